"""`limit` (default 50, max 100) and `skip`, with `pagination` beside `data` (API.md).

A `limit` above the maximum is capped (the answer's `pagination.limit` says what was used), not
refused; `skip` is bounded so it always fits the database's integer. `pagination.next` is the
path and query of the next page, or null on the last one.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Count, Window
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_SKIP = 1_000_000_000


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
    if errors:
        raise ValidationError(errors)
    return limit, skip


def next_link(request, skip: int, limit: int, returned: int, total: int) -> str | None:
    if request is None or skip + returned >= total:
        return None
    params = request.query_params.copy() if hasattr(request, "query_params") else request.GET.copy()
    params["skip"] = str(skip + returned)
    params["limit"] = str(limit)
    return f"{request.path}?{urlencode(sorted(params.items()))}"


def pagination_block(request, skip: int, limit: int, returned: int, total: int) -> dict:
    """The `pagination` object every list answers with."""
    return {
        "total": total,
        "limit": limit,
        "skip": skip,
        "has_more": skip + returned < total,
        "next": next_link(request, skip, limit, returned, total),
    }


class LimitSkipPagination(BasePagination):
    request = None

    def start(self, request, **limits) -> tuple[int, int]:
        """Read `limit`/`skip` for a view that fetches its own page (one query with the total)."""
        self.request = request
        self.limit, self.skip = parse_limit_skip(request.query_params, **limits)
        return self.limit, self.skip

    def paginate_queryset(self, queryset, request, view=None):
        self.start(request)
        self.total = queryset.count()
        return list(queryset[self.skip : self.skip + self.limit])

    def get_paginated_response(self, data):
        return Response(
            {
                "success": True,
                "data": data,
                "pagination": pagination_block(self.request, self.skip, self.limit, len(data), self.total),
            }
        )

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
        ]


def paginate_list(request, items: list, **limits) -> Response:
    """The same `{data, pagination}` answer for a list already built in memory (a catalogue,
    a few dozen rows): `limit`/`skip` are applied to it."""
    paginator = LimitSkipPagination()
    limit, skip = paginator.start(request, **limits)
    page = items[skip : skip + limit]
    return Response(
        {"success": True, "data": page, "pagination": pagination_block(request, skip, limit, len(page), len(items))}
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


def skip_parameter():
    return OpenApiParameter(
        "skip", {"type": "integer", "minimum": 0, "maximum": MAX_SKIP}, required=False, description="How many items to skip."
    )


def paginate_counted(view, queryset) -> list:
    """One query for a page *and* the total (`COUNT(*) OVER ()`), instead of LimitSkipPagination's
    count + page; a separate count only for a page past the end. Fills the view's paginator so
    `get_paginated_response` answers the usual `{data, pagination}`."""
    paginator = view.paginator
    paginator.start(view.request)
    rows = list(
        queryset.annotate(_total=Window(Count("pk")))[paginator.skip : paginator.skip + paginator.limit]
    )
    if rows:
        paginator.total = rows[0]["_total"] if isinstance(rows[0], dict) else rows[0]._total
    else:
        paginator.total = queryset.count() if paginator.skip else 0
    return rows
