"""Rebuild totals, levels, stats, streaks, badge lists and leaderboards from the ledger.

    manage.py rebuild_gamification            # fix and report drift
    manage.py rebuild_gamification --check    # report only; exit status 1 when anything drifted
"""

from django.core.management.base import BaseCommand, CommandError

from gamification import services


class Command(BaseCommand):
    help = "Rebuild gamification state from the ledger and report any drift."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only report; fail when something drifted.")

    def handle(self, *args, check=False, **options):
        drift = services.rebuild_all(write=not check)
        for line in drift:
            self.stdout.write(f"drift: {line}")
        self.stdout.write(f"{len(drift)} drift(s) found" + ("" if check else (", fixed" if drift else "")))
        if check and drift:
            raise CommandError(f"{len(drift)} drift(s) between the ledger and the derived state")
