"""Demo data for a first run: a staff account (printed) and a demo user. Idempotent."""

import os

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User


class Command(BaseCommand):
    help = "Create the demo staff account and a demo user (idempotent); prints their credentials."

    def add_arguments(self, parser):
        parser.add_argument("--staff-email", default=os.environ.get("DEMO_STAFF_EMAIL", "staff@deepiri.local"))
        parser.add_argument("--staff-password", default=os.environ.get("DEMO_STAFF_PASSWORD", "deepiri-staff-demo"))

    @transaction.atomic
    def handle(self, *args, staff_email, staff_password, **options):
        staff, created = User.objects.get_or_create(
            email=staff_email, defaults={"name": "Demo Staff", "is_staff": True, "is_superuser": True}
        )
        if created:
            staff.set_password(staff_password)
            staff.save()
        for role in ("user", "staff", "admin"):
            staff.groups.add(Group.objects.get_or_create(name=role)[0])
        demo, created_demo = User.objects.get_or_create(email="demo@deepiri.local", defaults={"name": "Demo User"})
        if created_demo:
            demo.set_password("deepiri-demo-user")
            demo.save()
        demo.groups.add(Group.objects.get_or_create(name="user")[0])
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        if created:
            self.stdout.write(f"  staff (admin at /admin/): {staff_email} / {staff_password}")
        else:
            self.stdout.write(f"  staff (admin at /admin/): {staff_email} (password unchanged since it was created)")
        self.stdout.write("  demo user: demo@deepiri.local / deepiri-demo-user" if created_demo else "  demo user: demo@deepiri.local")
