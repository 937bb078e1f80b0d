"""Unapply each app's latest migration, check what the older schema holds, apply it again (run
with HEAD's code on a migrated, seeded database; see deepiri/tests/test_upgrade.py).

A reverse must leave the older release's data as it was: rows of the tables and columns that
exist at both schemas unchanged, and a column the reverse puts back filled again (not left
empty), or the migration refuses to unapply (IrreversibleError, on purpose)."""

import json
import os

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.migrations.exceptions import IrreversibleError  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402

from deepiri.tests.upgrade import harness  # noqa: E402

URL = os.environ["DATABASE_URL"]
# Rewritten by every migrate: the record of applied migrations.
SKIP = {"django_migrations"}
report = {"apps": {}, "problems": [], "restored": {}}


def leaf_and_previous(loader, app):
    leaves = [name for label, name in loader.graph.leaf_nodes() if label == app]
    assert len(leaves) == 1, (app, leaves)  # one leaf per app (max_migration.txt)
    parents = [p for p in loader.graph.node_map[(app, leaves[0])].parents if p.key[0] == app]
    return leaves[0], (parents[0].key[1] if parents else "zero")


loader = MigrationLoader(connection)
apps = sorted({label for label, _ in loader.disk_migrations if (harness.ROOT / label).is_dir()})
for app in apps:
    latest, previous = leaf_and_previous(loader, app)
    before = harness.table_rows(URL)
    try:
        call_command("migrate", app, previous, verbosity=0)
    except IrreversibleError as exc:
        report["apps"][app] = f"{latest}: refuses to unapply ({exc})"
        continue
    middle = harness.table_rows(URL)
    # What the reverse drops (tables and columns the newer schema added) only the newer release
    # wrote and the older one never reads; it is listed, and everything else must survive.
    dropped = sorted(t for t in before if t not in middle)
    dropped += sorted(
        f"{t}.{c}" for t, e in before.items() if t in middle for c in e["columns"] if c not in middle[t]["columns"]
    )
    for table, old in before.items():
        if table in SKIP or table not in middle:
            continue
        now = middle[table]
        common = [c for c in old["columns"] if c in now["columns"]]
        if harness.projection(old, common) != harness.projection(now, common):
            report["problems"].append(f"unapplying {app}.{latest} changed rows of {table}")
        for column in (c for c in now["columns"] if c not in old["columns"]):
            index = now["columns"].index(column)
            filled = sum(1 for row in now["rows"] if row[index] is not None)
            report["restored"][f"{table}.{column}"] = [filled, len(now["rows"])]
            if now["rows"] and not filled:
                report["problems"].append(
                    f"unapplying {app}.{latest} put back {table}.{column} empty ({len(now['rows'])} rows): "
                    "the reverse must restore it, or the migration must refuse to unapply"
                )
    call_command("migrate", verbosity=0)
    after = harness.table_rows(URL)
    for table, old in before.items():
        if table in SKIP or table not in middle:
            continue
        common = [c for c in old["columns"] if c in middle[table]["columns"]]
        if table not in after or harness.projection(after[table], common) != harness.projection(old, common):
            report["problems"].append(f"re-applying {app}.{latest} changed {table}")
    report["apps"][app] = f"{latest} -> {previous} -> {latest}" + (f"; the reverse drops {', '.join(dropped)}" if dropped else "")

print("ROUNDTRIP " + json.dumps(report))
