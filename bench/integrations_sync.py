"""Integrations bench: 10,000 items in a fake provider (a real HTTP server on 127.0.0.1), a first
sync, then syncs with nothing changed, in the same run. Reports items per second and the ratio
of each no-change sync to the first (goal: <= 0.2x).

- first sync: every page fetched, 10,000 tasks created through tasks.services.create_task (events
  emitted, ImportedItem rows bulk-inserted per page);
- no-change incremental sync: the provider's own change filter (GitHub: `since` + ETag -> 304;
  Notion: `last_edited_time` with its 2-minute overlap, so every row edited in that window is
  read again and skipped by content hash);
- no-change full reconcile (`full=True`, what the daily reconcile does): every page fetched
  again, every item compared by content hash, nothing written.

Task understanding (a Celery job per new task) is switched off: the bench measures the import.

    .venv/bin/python bench/integrations_sync.py [--items 10000 --provider github|notion]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--provider", choices=["github", "notion"], default="github")
    ap.add_argument("--redis-db", type=int, default=6, help="a Redis db nothing else flushes during the run")
    args = ap.parse_args()
    from cryptography.fernet import Fernet

    keys = {"INTEGRATIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    with BenchEnv("integrations", redis_db=args.redis_db, extra_env=keys) as env:
        env.django_setup()
        from django.conf import settings

        from accounts.models import User
        from integrations import services
        from integrations.models import Connection, ImportedItem
        from tasks.models import Task

        settings.INTEGRATIONS_UNDERSTAND_IMPORTS = False
        user = User.objects.create_user(email="bench-integrations@example.com", password="Bench-Pass-123", name="Bench")

        if args.provider == "github":
            from integrations.tests.fakes.github import FakeGitHub

            fake = FakeGitHub(page_size=100).start()
            for i in range(args.items):
                fake.add_issue(
                    f"Issue {i}: fix the flaky test in module {i % 97}", body="Steps to reproduce. " * 5, labels=["bug"]
                )
            token, _ = fake.issue("ada", access_prefix="gho_", with_refresh=False)
        else:
            from integrations.tests.fakes.notion import FakeNotion

            fake = FakeNotion(page_size=100).start()
            ds = fake.add_data_source("Work")
            for i in range(args.items):
                fake.add_page(
                    ds, f"Task {i}: write section {i}", due="2026-05-10", tags=["work"], notes="Details. " * 5
                )
            token, _ = fake.issue("ada", access_prefix="ntn_")
        providers = {k: dict(v) for k, v in settings.INTEGRATIONS_PROVIDERS.items()}
        providers[args.provider] = {**providers[args.provider], **fake.settings()}
        settings.INTEGRATIONS_PROVIDERS = providers

        conn = Connection(user=user, service=args.provider, auth_type="token", external_account_id="1001")
        conn.access_token = token
        conn.save()

        def timed(label, **kw):
            calls = len(fake.requests)
            t0 = time.perf_counter()
            run = services.sync_connection(conn.pk, **kw)
            dt = time.perf_counter() - t0
            assert run is not None and run.status == "succeeded", run and run.error
            row = {
                "label": label,
                "seconds": dt,
                "items_seen": run.items_seen,
                "created": run.created_count,
                "updated": run.updated_count,
                "unchanged": run.unchanged_count,
                "updated_or_other": run.updated_count + run.skipped_count + run.deleted_count,
                "requests": len(fake.requests) - calls,
            }
            row["items_per_s"] = args.items / dt
            return row

        try:
            rows = [timed("first sync")]
            assert Task.objects.filter(user=user).count() == args.items
            fake.tick(600)  # time passes; nothing changes upstream
            rows.append(timed("no-change incremental"))
            rows.append(timed("no-change full reconcile", full=True))
            assert Task.objects.filter(user=user).count() == args.items
            assert ImportedItem.objects.filter(connection=conn).count() == args.items
        finally:
            fake.stop()

        first = rows[0]["seconds"]
        print(f"\nIntegrations sync bench ({args.provider} fake, {args.items} items, page size 100)")
        print(
            f"{'run':28} {'seconds':>9} {'items/s':>10} {'ratio':>7} {'requests':>9} {'seen':>7} {'created':>8} {'unchanged':>10}"
        )
        for r in rows:
            print(
                f"{r['label']:28} {r['seconds']:9.2f} {r['items_per_s']:10.0f} {r['seconds'] / first:7.3f} "
                f"{r['requests']:9d} {r['items_seen']:7d} {r['created']:8d} {r['unchanged']:10d} {r['updated_or_other']:8d}"
            )
        worst = max(r["seconds"] for r in rows[1:]) / first
        print(f"goal: no-change sync <= 0.2x of the first -> worst {worst:.3f}x {'OK' if worst <= 0.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
