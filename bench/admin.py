"""Admin bench: does a staff screen stay as fast when the tables grow 20x?

The Users list (50 rows a page, level/points/roles per row, no full count) and the dashboard
(a handful of aggregates) are served by one gunicorn worker (core 0) to a signed-in staff
session, wrk on core 1. Measured with `--small` users, then again after growing the table to
`--large` users (tasks and ledger rows alongside). The admin login page (no table read) is the
baseline measured in the same rounds; figures are ratios.
Goal: the Users list at >= 0.8x of its small-table speed (its queries do not grow with the table);
the dashboard is reported (its counts scan today's rows and the users table).

    .venv/bin/python bench/admin.py [--seconds 5 --rounds 3 --small 1000 --large 20000]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv, alternate, report  # noqa: E402


def grow(count: int, start: int) -> None:
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from gamification.models import GamificationProfile, LedgerEntry

    password = make_password("Bench-Pass-123")
    now = timezone.now()
    users = User.objects.bulk_create(
        [
            User(email=f"bench-user-{i}@example.com", name=f"Bench User {i}", password=password)
            for i in range(start, start + count)
        ],
        batch_size=2000,
    )
    GamificationProfile.objects.bulk_create(
        [
            GamificationProfile(user=u, points=(i * 37) % 5000, xp=(i * 37) % 5000, level=1 + i % 9)
            for i, u in enumerate(users)
        ],
        batch_size=2000,
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                user=u, points=10, xp=10, reason="task", source="task", idempotency_key=f"bench-{u.pk}", occurred_at=now
            )
            for u in users
        ],
        batch_size=2000,
    )


def staff_cookie() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User
    from kernel import roles

    roles.sync_roles()
    staff = User.objects.create_user(email="bench-staff@example.com", password="Bench-Pass-123", name="Bench Staff")
    roles.set_roles(staff, [roles.STAFF])
    session = SessionStore()
    session[SESSION_KEY] = staff.pk
    session[BACKEND_SESSION_KEY] = "accounts.backends.EmailBackend"
    session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def measure(env, cookie: str, label: str, args) -> dict:
    headers = {"Cookie": cookie}
    result = alternate(
        env,
        {
            "login page (baseline)": {"path": "/admin/login/"},
            "users list": {"path": "/admin/accounts/user/", "headers": headers},
            "dashboard": {"path": "/admin/", "headers": headers},
        },
        rounds=args.rounds,
        seconds=args.seconds,
    )
    report(f"admin screens, {label} (1 gunicorn worker)", result, "login page (baseline)")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=20000)
    args = ap.parse_args()
    with BenchEnv("admin") as env:
        env.django_setup()
        cookie = staff_cookie()
        grow(args.small, 0)
        env.serve()
        small = measure(env, cookie, f"{args.small} users", args)
        env.stop()
        grow(args.large - args.small, args.small)
        env.serve()
        large = measure(env, cookie, f"{args.large} users", args)

        def relative(result, name):
            return result[name]["rps"] / result["login page (baseline)"]["rps"]

        print()
        for name in ("users list", "dashboard"):
            ratio = relative(large, name) / relative(small, name)
            print(f"  {name}: {args.large} users at {ratio:.2f}x the speed of {args.small} users (vs the baseline)")
        print("  goal: users list >= 0.80x")


if __name__ == "__main__":
    main()
