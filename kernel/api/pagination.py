"""Lists: `limit` (default 50, max 100) with either a `cursor` or `skip`, and `pagination`
beside `data` (API.md, docs/api-contract.md "Lists").

A `limit` above the maximum is capped (the answer's `pagination.limit` says what was used), not
refused; `skip` is bounded so it always fits the database's integer.

Cursors (keyset pagination): a page ends with `pagination.nextCursor`, an opaque token holding
the sort key of its last row (the list's ordering, always ending with the primary key, so it is
total and stable). The next page is the rows strictly after that key, so a walk by cursor while
rows are added or deleted returns no row twice and misses no row that survives the walk (a row
added behind the walk's position is simply not reached, as in any snapshot-free walk). Tokens are
signed for their path (`django.core.signing`): a changed, foreign or truncated one is a 400 on
`cursor`, as is a cursor of another ordering.

`pagination.next` is the path and query of the next page: by cursor when the request walks by
cursor (`cursor` sent; empty on the first page), else by `skip` (the web client's offset links,
unchanged). `pagination.nextCursor` is on every page either way. Lists built in memory (`paginate_list`: a
catalogue, a few dozen rows) and the leaderboard (ranks, not rows) take a cursor too: a signed
offset.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.core import signing
from django.db.models import Count, F, OrderBy, Q, Window
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_SKIP = 1_000_000_000
MAX_CURSOR_LENGTH = 1000
# What `django.core.signing` writes (URL-safe base64, `:` and the `.` of a compressed payload):
# the schema says so, so a generated client or fuzzer never sends what no cursor can be.
CURSOR_PATTERN = r"^[A-Za-z0-9_.:\-]*$"
PAGE_PARAMS = frozenset({"limit", "skip", "cursor"})
_SALT = "deepiri.cursor"
BAD_CURSOR = "Not a cursor of this list: start again without one, or follow `pagination.next`."


def parse_limit_skip(query_params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT) -> tuple[int, int]:
    errors = {}
    limit, skip = default_limit, 0
    raw_limit, raw_skip = query_params.get("limit"), query_params.get("skip")
    if raw_limit not in (None, ""):
        try:
            limit = int(raw_limit)
            if limit < 1:
                raise ValueError
            limit = min(limit, max_limit)
        except ValueError:
            errors["limit"] = [f"Must be a positive integer (at most {max_limit} are returned)."]
    if raw_skip not in (None, ""):
        try:
            skip = int(raw_skip)
            if not 0 <= skip <= MAX_SKIP:
                raise ValueError
        except ValueError:
            errors["skip"] = [f"Must be an integer from 0 to {MAX_SKIP}."]
    if query_params.get("cursor") and raw_skip not in (None, ""):
        errors["skip"] = ["Page by `cursor` or by `skip`, not both."]
    if errors:
        raise ValidationError(errors)
    return limit, skip


# --- cursor tokens -------------------------------------------------------------------------------


def _encode_value(value):
    if isinstance(value, datetime.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _decode_value(value):
    if isinstance(value, dict):
        if "t" in value:
            return datetime.datetime.fromisoformat(value["t"])
        if "d" in value:
            return datetime.date.fromisoformat(value["d"])
        if "n" in value:
            return Decimal(value["n"])
        raise ValueError("unknown value")
    return value


def _salt(request) -> str:
    return f"{_SALT}:{request.path.rstrip('/')}"


def sign_cursor(request, payload: dict) -> str:
    return signing.dumps(payload, salt=_salt(request), compress=True)


def read_cursor(request) -> dict | None:
    """The payload of the request's `cursor`, None when there is none; a 400 when it is not one
    this list signed."""
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    try:
        if len(raw) > MAX_CURSOR_LENGTH:
            raise signing.BadSignature
        payload = signing.loads(raw, salt=_salt(request))
        if not isinstance(payload, dict):
            raise signing.BadSignature
        return payload
    except (signing.BadSignature, ValueError, UnicodeError):
        raise ValidationError({"cursor": [BAD_CURSOR]}) from None


# --- keyset over a queryset's ordering -----------------------------------------------------------


def order_keys(queryset) -> list[tuple]:
    """(expression, descending, nulls last) of each term of the queryset's ordering (a field or
    any expression: `ordering=priority` sorts by a CASE), ending with the primary key."""
    query = queryset.query
    ordering = list(query.order_by or (query.get_meta().ordering if query.default_ordering else []))
    keys: list[tuple] = []
    for item in ordering:
        if isinstance(item, str):
            if item == "?":
                raise TypeError("cursor pagination cannot follow a random ordering")
            descending = item.startswith("-")
            name = item.lstrip("-+")
            expression = F("pk" if name in ("pk", "id") else name)
            nulls_last = not descending  # PostgreSQL's default: NULL is the largest value
        elif isinstance(item, OrderBy):
            expression, descending = item.expression, item.descending
            nulls_last = bool(item.nulls_last) or (not item.nulls_first and not descending)
        else:
            expression, descending, nulls_last = item, False, True
        keys.append((expression, descending, nulls_last))
    if not any(isinstance(e, F) and e.name == "pk" for e, _, _ in keys):
        keys.append((F("pk"), keys[-1][1] if keys else False, True))
    return keys


def _strictly_after(name: str, descending: bool, nulls_last: bool, value) -> Q:
    if value is None:
        return Q(**{f"{name}__isnull": False}) if not nulls_last else Q(pk__in=[])
    after = Q(**{f"{name}__lt" if descending else f"{name}__gt": value})
    return after | Q(**{f"{name}__isnull": True}) if nulls_last else after


def after_key(keys, values) -> Q:
    """Rows strictly after the row whose sort key is `values`, in the order of `keys`, on the
    key annotations (`_key_annotations`)."""
    condition = Q(pk__in=[])
    equal = Q()
    for i, ((_, descending, nulls_last), value) in enumerate(zip(keys, values, strict=True)):
        name = f"_cursor_{i}"
        condition |= equal & _strictly_after(name, descending, nulls_last, value)
        equal &= Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})
    return condition


def _key_annotations(keys) -> dict:
    return {f"_cursor_{i}": expression for i, (expression, _, _) in enumerate(keys)}


def _key_of(row, keys) -> list:
    get = row.__getitem__ if isinstance(row, dict) else lambda name: getattr(row, name)
    return [_encode_value(get(f"_cursor_{i}")) for i in range(len(keys))]


def _spec(keys) -> list:
    """What a cursor is bound to: the list's ordering, term by term."""
    return [[str(expression), descending, nulls_last] for expression, descending, nulls_last in keys]


def _after_cursor(request, queryset, keys):
    """`queryset` restricted to the rows after the request's cursor (unchanged without one)."""
    payload = read_cursor(request)
    queryset = queryset.annotate(**_key_annotations(keys))
    if payload is None:
        return queryset, False
    try:
        if payload.get("k") != _spec(keys):
            raise ValueError("another ordering")
        values = [_decode_value(v) for v in payload["v"]]
        return queryset.filter(after_key(keys, values)), True
    except (KeyError, TypeError, ValueError):
        raise ValidationError({"cursor": [BAD_CURSOR]}) from None


# --- the answer ----------------------------------------------------------------------------------


def _link(request, **changes) -> str:
    params = request.query_params.copy() if hasattr(request, "query_params") else request.GET.copy()
    for name in ("skip", "cursor"):
        params.pop(name, None)
    for name, value in changes.items():
        params[name] = str(value)
    return f"{request.path}?{urlencode(sorted(params.items()))}"


def next_link(request, skip: int, limit: int, returned: int, total: int) -> str | None:
    if request is None or skip + returned >= total:
        return None
    return _link(request, limit=limit, skip=skip + returned)


def pagination_block(request, skip: int, limit: int, returned: int, total: int) -> dict:
    """The `pagination` object of an offset page (`skip`) built by a view itself."""
    return {
        "total": total,
        "limit": limit,
        "skip": skip,
        "has_more": skip + returned < total,
        "next": next_link(request, skip, limit, returned, total),
        "next_cursor": None,
    }


def _by_cursor(request) -> bool:
    """Whether the client walks by cursor (`cursor` sent, empty on the first page): its `next`
    links carry the cursor; the others (the web client) keep offsets."""
    return "cursor" in request.query_params


def offset_page_block(request, skip: int, limit: int, returned: int, total: int) -> dict:
    """`pagination` of a list paged by offset internally (in memory, the leaderboard), with a
    signed-offset cursor; `next` uses it unless the client paged by `skip`."""
    has_more = skip + returned < total
    cursor = sign_cursor(request, {"o": skip + returned}) if has_more else None
    block = {"total": total, "limit": limit, "has_more": has_more, "next_cursor": cursor}
    if not request.query_params.get("cursor"):
        block["skip"] = skip
    if not has_more:
        block["next"] = None
    elif _by_cursor(request):
        block["next"] = _link(request, limit=limit, cursor=cursor)
    else:
        block["next"] = next_link(request, skip, limit, returned, total)
    return block


def offset_of_cursor(request) -> int | None:
    """The offset a signed-offset cursor names (`offset_page_block`), None without a cursor."""
    payload = read_cursor(request)
    if payload is None:
        return None
    offset = payload.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_SKIP:
        raise ValidationError({"cursor": [BAD_CURSOR]})
    return offset


class LimitSkipPagination(BasePagination):
    request = None
    block: dict | None = None

    def start(self, request, **limits) -> tuple[int, int]:
        """Read `limit`/`skip` for a view that fetches its own page (one query with the total)."""
        self.request = request
        self.limit, self.skip = parse_limit_skip(request.query_params, **limits)
        self.block = None
        return self.limit, self.skip

    def paginate_queryset(self, queryset, request, view=None):
        self.start(request)
        return self.page_of(queryset, counted=False)

    def page_of(self, queryset, *, counted: bool) -> list:
        """The page of `queryset` the request asks for, by cursor or by `skip`; fills the
        `pagination` block. `counted`: one query for the page and the total (COUNT(*) OVER ())."""
        request = self.request
        keys = order_keys(queryset)
        base = queryset
        queryset, by_cursor = _after_cursor(request, queryset, keys)
        if by_cursor:
            self.total = base.count()
            rows = list(queryset[: self.limit + 1])
            has_more = len(rows) > self.limit
            rows = rows[: self.limit]
        else:
            if counted:
                rows = list(queryset.annotate(_total=Window(Count("pk")))[self.skip : self.skip + self.limit])
                if rows:
                    self.total = rows[0]["_total"] if isinstance(rows[0], dict) else rows[0]._total
                else:
                    self.total = base.count() if self.skip else 0
            else:
                self.total = base.count()
                rows = list(queryset[self.skip : self.skip + self.limit])
            has_more = self.skip + len(rows) < self.total
        cursor = sign_cursor(request, {"k": _spec(keys), "v": _key_of(rows[-1], keys)}) if has_more and rows else None
        block = {"total": self.total, "limit": self.limit, "has_more": has_more, "next_cursor": cursor}
        if not by_cursor:
            block["skip"] = self.skip
        if cursor is None:
            block["next"] = None
        elif _by_cursor(request):
            block["next"] = _link(request, limit=self.limit, cursor=cursor)
        else:
            block["next"] = _link(request, limit=self.limit, skip=self.skip + len(rows))
        self.block = block
        return rows

    def get_paginated_response(self, data):
        block = self.block
        if block is None:  # a view that set `total` and sliced the page itself
            block = pagination_block(self.request, self.skip, self.limit, len(data), self.total)
        return Response({"success": True, "data": data, "pagination": block})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["success", "data", "pagination"],
            "properties": {
                "success": {"type": "boolean"},
                "data": schema,
                "pagination": {
                    "type": "object",
                    "properties": {
                        "total": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "skip": {"type": "integer"},
                        "hasMore": {"type": "boolean"},
                        "next": {"type": "string", "nullable": True},
                        "nextCursor": {"type": "string", "nullable": True},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, default {DEFAULT_LIMIT}; larger values are capped at {MAX_LIMIT}.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "skip",
                "in": "query",
                "required": False,
                "description": "How many items to skip.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_SKIP},
            },
            CURSOR_PARAMETER,
        ]


def paginate_list(request, items: list, **limits) -> Response:
    """The same `{data, pagination}` answer for a list already built in memory (a catalogue,
    a few dozen rows): `limit` and `skip` or a (signed offset) `cursor` are applied to it."""
    paginator = LimitSkipPagination()
    limit, skip = paginator.start(request, **limits)
    offset = offset_of_cursor(request)
    if offset is not None:
        skip = offset
    page = items[skip : skip + limit]
    return Response(
        {"success": True, "data": page, "pagination": offset_page_block(request, skip, limit, len(page), len(items))}
    )


def paginated_schema(serializer_class, name: str | None = None):
    """The OpenAPI answer of a list view that builds its page itself (`paginate_list`)."""
    name = name or serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        f"Paginated{name}List",
        {
            "success": serializers.BooleanField(),
            "data": serializer_class(many=True),
            "pagination": serializers.DictField(),  # replaced by the shared Pagination component
        },
    )


def limit_parameter(max_limit: int = MAX_LIMIT, default: int = DEFAULT_LIMIT, *, capped: bool = True):
    """`limit` as the OpenAPI schema states it: what parse_limit_skip accepts (larger values
    capped), or, with capped=False, a hard maximum that a serializer enforces."""
    schema = {"type": "integer", "minimum": 1, "default": default}
    if capped:
        description = f"Page size, default {default}; larger values are capped at {max_limit}."
    else:
        schema["maximum"] = max_limit
        description = f"1..{max_limit}, default {default}"
    return OpenApiParameter("limit", schema, required=False, description=description)


CURSOR_PARAMETER = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "description": "Opaque: `pagination.nextCursor` of the previous page (or follow `pagination.next`). "
    "A walk by cursor returns no row twice and misses none that survives it, while rows are added or "
    "deleted. Not together with `skip`. An empty value starts a walk.",
    "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH, "pattern": CURSOR_PATTERN},
}


def skip_parameter():
    return OpenApiParameter(
        "skip", {"type": "integer", "minimum": 0, "maximum": MAX_SKIP}, required=False, description="How many items to skip."
    )


def paginate_counted(view, queryset) -> list:
    """One query for a page *and* the total (`COUNT(*) OVER ()`), instead of LimitSkipPagination's
    count + page; a separate count only for a page past the end (and on a page by cursor). Fills
    the view's paginator so `get_paginated_response` answers the usual `{data, pagination}`."""
    paginator = view.paginator
    paginator.start(view.request)
    return paginator.page_of(queryset, counted=True)
