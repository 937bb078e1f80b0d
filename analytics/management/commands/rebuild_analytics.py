"""manage.py rebuild_analytics --user <id or email> [...] | --all

Recompute events and daily rollups in MongoDB from tasks, challenges, the points ledger and
badge awards (see analytics/rebuild.py)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from analytics.rebuild import rebuild_user


class Command(BaseCommand):
    help = "Recompute MongoDB analytics (events and daily rollups) from the relational data."

    def add_arguments(self, parser):
        parser.add_argument("--user", action="append", default=[], help="user id or email (repeatable)")
        parser.add_argument("--all", action="store_true", help="every user")

    def handle(self, *args, **options):
        User = get_user_model()
        if options["all"] == bool(options["user"]):
            raise CommandError("Give either --all or at least one --user.")
        if options["all"]:
            users = User.objects.order_by("id").iterator(chunk_size=500)
        else:
            users = []
            for ref in options["user"]:
                user = (
                    User.objects.filter(email__iexact=ref).first()
                    if "@" in ref
                    else User.objects.filter(pk=ref).first()
                )
                if user is None:
                    raise CommandError(f"No such user: {ref}")
                users.append(user)
        total_users = total_events = 0
        for user in users:
            result = rebuild_user(user)
            total_users += 1
            total_events += result["events"]
            self.stdout.write(f"{user.id}: {result['events']} events, {result['days']} days")
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {total_users} user(s), {total_events} events."))
