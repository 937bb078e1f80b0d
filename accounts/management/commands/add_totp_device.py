"""Give a staff member an authenticator (TOTP) device for the admin's second factor.

    manage.py add_totp_device ada@example.com [--name phone]

Prints the otpauth:// URL to add to an authenticator app (paste it, or turn it into a QR code
with any tool). From then on the admin asks that user for a code at every sign-in.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


class Command(BaseCommand):
    help = "Add an authenticator (TOTP) device to a staff account and print its otpauth:// URL."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="authenticator")

    def handle(self, *args, email, name, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email {email}.")
        if not user.is_staff:
            raise CommandError(f"{email} is not staff: only the admin asks for a second factor.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        self.stdout.write(device.config_url)
