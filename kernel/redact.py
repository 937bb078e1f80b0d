"""Secrets that ride in URL paths, kept out of every log line and trace.

A calendar app's subscription URL is `/cal/<token>.ics`: the token is the whole credential
(calendar apps cannot send headers), so a log line holding the path would hand out the feed.
`redact_path` rewrites such a path to `/cal/-.ics`; `RedactSecretsFilter` does the same to any
record's formatted message and its `path` field, for handlers whose lines come from code we do not
own (gunicorn's and daphne's access logs, Django's request logger).

No imports beyond the standard library: gunicorn's configuration loads this before Django.
"""

from __future__ import annotations

import logging
import re

_SECRET_PATH = re.compile(r"/cal/[^/?#\s\"']+?\.ics")
REDACTED = "/cal/-.ics"
MARKER = "/cal/"


def redact_path(text: str) -> str:
    if MARKER not in text:
        return text
    return _SECRET_PATH.sub(REDACTED, text)


# What every LogRecord has; anything else on a record came in through `extra=` (Django's request
# logger passes the request itself, whose repr holds the path).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD or value is None or isinstance(value, int | float | bool):
                continue
            text = value if isinstance(value, str) else str(value)
            if MARKER in text:
                setattr(record, name, redact_path(text))
        if MARKER in str(record.msg) or (record.args and MARKER in str(record.args)):
            message = record.getMessage()
            redacted = redact_path(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True
