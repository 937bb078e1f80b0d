"""The user's integrations in `GET /api/users/export` (never a secret)."""

from __future__ import annotations

from django.db.models import Count

from integrations.models import Connection
from kernel.api.times import iso_utc


def export_user(user) -> list[dict]:
    rows = Connection.objects.filter(user=user).annotate(imported=Count("items")).order_by("created_at")
    return [
        {
            "id": c.pk,
            "service": c.service,
            "status": c.status,
            "account": {"id": c.external_account_id, "name": c.external_account_name},
            "configuration": {
                "auto_sync": c.auto_sync,
                "sync_interval": c.sync_interval,
                "sync_filters": c.sync_filters,
                "generate_challenges": c.generate_challenges,
            },
            "imported_items": c.imported,
            "last_sync": iso_utc(c.last_sync_at),
            "connected_at": iso_utc(c.connected_at),
        }
        for c in rows
    ]
