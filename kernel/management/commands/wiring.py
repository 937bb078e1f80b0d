"""`manage.py wiring`: what reacts to what, in one table.

Prints every domain event with its subscribers (in the emitter's transaction, or after commit),
every registry with the entries the apps contributed (socket rooms and commands among them),
and the Celery beat jobs with their schedules. The README keeps a copy of this output
(between the `wiring:begin` / `wiring:end` markers); `--check-readme` fails when it is stale and
`--write-readme` rewrites it.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kernel import events, wiring

README = Path(settings.BASE_DIR) / "README.md"
BEGIN = "<!-- wiring:begin (python manage.py wiring --write-readme) -->"
END = "<!-- wiring:end -->"


def _event_classes() -> list[type[events.Event]]:
    found, stack = set(), [events.Event]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return sorted((c for c in found if c.name), key=lambda c: c.name)


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"every {int(seconds // size)} {unit}"
    return f"every {seconds:g} s"


def _schedule(schedule) -> str:
    if isinstance(schedule, int | float):
        return _every(float(schedule))
    run_every = getattr(schedule, "run_every", None)  # celery.schedules.schedule
    if run_every is not None and not hasattr(schedule, "minute"):
        return _every(run_every.total_seconds())
    return str(schedule)  # crontab and solar schedules describe themselves


def render() -> str:
    lines = ["Domain events (event -> subscribers; 'commit' = after commit, 'txn' = in the emitter's transaction)"]
    by_event: dict[type, list[str]] = {}
    for event_type, handler, after_commit in events.subscriptions():
        by_event.setdefault(event_type, []).append(f"{'commit' if after_commit else 'txn   '} {wiring.describe(handler)}")
    for event_type in _event_classes():
        lines.append(f"  {event_type.name}  ({event_type.__module__}.{event_type.__qualname__})")
        lines.extend(f"      {row}" for row in by_event.get(event_type, ["(no subscriber)"]))

    lines += ["", "Registries (registry -> entry: contributor)"]
    current = None
    for c in wiring.contributions():
        if c.registry != current:
            current = c.registry
            lines.append(f"  {current}")
        lines.append(f"      {c.key}: {c.contributor}" if c.key != c.contributor else f"      {c.contributor}")

    lines += ["", "Celery beat jobs (entry: task, schedule)"]
    for name, entry in sorted(settings.CELERY_BEAT_SCHEDULE.items()):
        lines.append(f"  {name}: {entry['task']}, {_schedule(entry['schedule'])}")
    return "\n".join(lines) + "\n"


def readme_block(text: str) -> str:
    return f"{BEGIN}\n```text\n{text}```\n{END}"


def readme_copy(readme: str) -> str | None:
    """The table the README holds, or None when it has no marked block."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        return None
    return readme[start : end + len(END)]


class Command(BaseCommand):
    help = "Print the wiring: events and their subscribers, registries and contributors, beat jobs."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--check-readme", action="store_true", help="fail when README.md's copy is not current")
        group.add_argument("--write-readme", action="store_true", help="replace README.md's copy with the current table")

    def handle(self, *args, check_readme=False, write_readme=False, **options):
        text = render()
        if not (check_readme or write_readme):
            self.stdout.write(text, ending="")
            return
        readme = README.read_text()
        copy = readme_copy(readme)
        if copy is None:
            raise CommandError(f"README.md has no wiring block ({BEGIN} ... {END})")
        if check_readme:
            if copy != readme_block(text):
                raise CommandError("README.md's wiring table is stale: run `python manage.py wiring --write-readme`")
            self.stdout.write("README.md's wiring table is current.")
            return
        README.write_text(readme.replace(copy, readme_block(text)))
        self.stdout.write("README.md's wiring table rewritten.")
