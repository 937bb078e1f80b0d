"""`limit` (default 50, max 100) and `skip`, with `pagination` beside `data` (API.md)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def parse_limit_skip(query_params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT) -> tuple[int, int]:
    errors = {}
    limit, skip = default_limit, 0
    raw_limit, raw_skip = query_params.get("limit"), query_params.get("skip")
    if raw_limit not in (None, ""):
        try:
            limit = int(raw_limit)
            if not 1 <= limit <= max_limit:
                raise ValueError
        except ValueError:
            errors["limit"] = [f"Must be an integer from 1 to {max_limit}."]
    if raw_skip not in (None, ""):
        try:
            skip = int(raw_skip)
            if skip < 0:
                raise ValueError
        except ValueError:
            errors["skip"] = ["Must be a non-negative integer."]
    if errors:
        raise ValidationError(errors)
    return limit, skip


class LimitSkipPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.limit, self.skip = parse_limit_skip(request.query_params)
        self.total = queryset.count()
        return list(queryset[self.skip : self.skip + self.limit])

    def get_paginated_response(self, data):
        return Response(
            {
                "success": True,
                "data": data,
                "pagination": {
                    "total": self.total,
                    "limit": self.limit,
                    "skip": self.skip,
                    "has_more": self.skip + len(data) < self.total,
                },
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
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
            {"name": "skip", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
        ]
