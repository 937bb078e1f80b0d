"""`migrate` with bounded waits on PostgreSQL.

A DDL statement that waits for a table lock makes every later query on that table queue behind
it: one long transaction in the web tier plus a plain `ALTER TABLE` stalls the whole site. So the
migrating session gets a `lock_timeout` (give up quickly, roll that migration back, try again a
little later, then fail with a clear message) and a `statement_timeout` (no single statement runs
for ever). Both are session settings, set before the first migration and reset afterwards, so the
connection goes back to its normal budget (the test runner migrates on the connection its tests
then use).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

LOCK_NOT_AVAILABLE = "55P03"


def _is_lock_timeout(exc: BaseException) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        exc = exc.__cause__
    return False


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " On PostgreSQL, DDL waits at most --lock-timeout for a lock."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--lock-timeout",
            default=None,
            help="PostgreSQL lock_timeout for the migrating session (default: MIGRATE_LOCK_TIMEOUT, '0' = none).",
        )
        parser.add_argument(
            "--statement-timeout",
            default=None,
            help="PostgreSQL statement_timeout for the migrating session (default: MIGRATE_STATEMENT_TIMEOUT).",
        )
        parser.add_argument(
            "--lock-retries",
            type=int,
            default=None,
            help="Attempts after a lock timeout before giving up (default: MIGRATE_LOCK_RETRIES).",
        )

    def handle(self, *args, **options):
        connection = connections[options["database"] or DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql":
            return super().handle(*args, **options)
        lock_timeout = options["lock_timeout"] or settings.MIGRATE_LOCK_TIMEOUT
        statement_timeout = options["statement_timeout"] or settings.MIGRATE_STATEMENT_TIMEOUT
        retries = settings.MIGRATE_LOCK_RETRIES if options["lock_retries"] is None else options["lock_retries"]
        attempt = 0
        while True:
            self._set_timeouts(connection, lock_timeout, statement_timeout)
            try:
                return super().handle(*args, **options)
            except OperationalError as exc:
                if not _is_lock_timeout(exc):
                    raise
                if attempt >= retries:
                    raise CommandError(
                        f"migrate gave up: a table it must alter stayed locked longer than lock_timeout={lock_timeout} "
                        f"({attempt + 1} attempts). Find the long transaction (pg_stat_activity) or retry in a quieter "
                        f"moment; the migrations applied so far stay applied. ({exc})"
                    ) from exc
                attempt += 1
                delay = min(30.0, 2.0**attempt)
                self.stderr.write(
                    f"lock_timeout={lock_timeout} reached; the migration rolled back. Retry {attempt}/{retries} in {delay:.0f}s."
                )
                time.sleep(delay)
            finally:
                self._reset_timeouts(connection)

    @staticmethod
    def _set_timeouts(connection, lock_timeout: str, statement_timeout: str) -> None:
        with connection.cursor() as cursor:
            # set_config(..., false) = SET at session level, with the values passed as parameters.
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                [str(lock_timeout), str(statement_timeout)],
            )

    @staticmethod
    def _reset_timeouts(connection) -> None:
        if connection.connection is None:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout; RESET statement_timeout")
        except Exception:  # noqa: BLE001 - a broken connection is closed and reopened with defaults anyway
            connection.close()
