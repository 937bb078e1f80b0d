"""Our own setup of each new PostgreSQL connection (connected in DeepiriConfig.ready()).

Django 5.2 loads `timestamptz` with a loader derived from psycopg's pure-Python one, so that it can
put its time zone on every value (django/db/backends/postgresql/psycopg_any.py). That bypasses
psycopg's C loader: on the tasks list, parsing the timestamps in Python was a quarter of the
request. With USE_TZ the session time zone is UTC and the C loader already returns values in
UTC, so each connection gets a loader that hands the parsing to it (Django ticket #36960
discusses fixing this in Django itself). It keeps the `timezone` attribute Django reads when it
opens a cursor to decide whether the connection's loader fits.
"""

from __future__ import annotations

import datetime

import psycopg
from django.conf import settings
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

TIMESTAMPTZ_OID = 1184


def _utc_loader():
    fast = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)  # psycopg's C loader when installed
    if fast is None or fast is TimestamptzLoader:
        return None

    class UtcTimestamptzLoader(TimestamptzLoader):
        timezone = datetime.UTC

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self.load = fast(oid, context).load

    return UtcTimestamptzLoader


_loader = None


def use_c_timestamptz_loader(sender, connection, **kwargs) -> None:
    global _loader
    if connection.vendor != "postgresql" or not settings.USE_TZ or connection.timezone != datetime.UTC:
        return
    if _loader is None:
        _loader = _utc_loader() or False
    if _loader:
        connection.connection.adapters.register_loader(TIMESTAMPTZ_OID, _loader)
