"""Re-encrypt every stored integration secret with the first key of INTEGRATIONS_ENCRYPTION_KEYS.

Rotation: put the new key first (keep the old ones after it), deploy, run this command, then
remove the old keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from integrations import crypto
from integrations.models import Connection, OAuthState, ProviderSecret

FIELDS = {
    Connection: ["access_token_enc", "refresh_token_enc", "token_secret_enc"],
    OAuthState: ["code_verifier_enc", "extra_enc"],
    ProviderSecret: ["value_enc"],
}


def rotate_all(batch_size: int = 500) -> int:
    rotated = 0
    for model, fields in FIELDS.items():
        batch = []
        for row in model.objects.only("pk", *fields).iterator(chunk_size=batch_size):
            for name in fields:
                setattr(row, name, crypto.rotate(getattr(row, name)))
            batch.append(row)
            if len(batch) >= batch_size:
                with transaction.atomic():
                    model.objects.bulk_update(batch, fields)
                rotated += len(batch)
                batch = []
        if batch:
            with transaction.atomic():
                model.objects.bulk_update(batch, fields)
            rotated += len(batch)
    return rotated


class Command(BaseCommand):
    help = "Re-encrypt stored integration secrets with the current first encryption key."

    def handle(self, *args, **options):
        count = rotate_all()
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {count} rows"))
