"""Unknown query parameters are refused: a 400 naming each of them, before the view runs.

A typo (`?unreadonly=true`) or a parameter of another API (`?page=2`, `?sort=…`) would
otherwise be ignored silently, and the client would read a wrong answer as the right one.

What a view accepts is derived from the view itself, so a new view is covered without a list to
keep:
- the query parameters its operation declares for the schema (`@extend_schema(parameters=[…])`:
  `OpenApiParameter`s in the query, or a serializer whose fields are the parameters);
- the filters of its `filterset_class` (django-filter), on a list;
- `limit`, `skip` and `cursor` on a list with a paginator, and `cursor` wherever `skip` is
  declared (kernel.api.pagination);
- `format` on a view with several renderers (DRF's format override: `/api/schema?format=json`);
- a view that must take whatever a peer sends (an OAuth callback) says `accepts_any_query = True`.
"""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from kernel.api.casing import to_camel
from kernel.api.errors import ErrorCode
from kernel.api.pagination import PAGE_PARAMS

MAX_REPORTED = 20
_ACCEPTED: dict[tuple, frozenset[str]] = {}


def _declared(view_class, initkwargs: dict, method: str, handler) -> set[str]:
    """The query parameters the operation's schema declares (drf-spectacular's override)."""
    schema_class = (getattr(handler, "kwargs", None) or {}).get("schema")
    if schema_class is None:
        return set()
    view = view_class(**initkwargs)
    view.request, view.args, view.kwargs = None, (), {}
    schema = schema_class()
    schema.view = view
    schema.method = method
    names: set[str] = set()
    for parameter in schema.get_override_parameters() or []:
        if isinstance(parameter, OpenApiParameter):
            if parameter.location == OpenApiParameter.QUERY and not parameter.exclude:
                names.add(parameter.name)
        elif isinstance(parameter, serializers.BaseSerializer) or (
            isinstance(parameter, type) and issubclass(parameter, serializers.BaseSerializer)
        ):
            fields = parameter().fields if isinstance(parameter, type) else parameter.fields
            names.update(to_camel(name) for name in fields)
    return names


def accepted_query_params(view_class, initkwargs: dict, method: str, action: str | None) -> frozenset[str]:
    key = (view_class, method, action)
    cached = _ACCEPTED.get(key)
    if cached is not None:
        return cached
    handler = getattr(view_class, action or method.lower(), None)
    names = _declared(view_class, initkwargs, method, handler) if handler is not None else set()
    is_list = action == "list" or (action is None and method in ("GET", "HEAD"))
    if is_list:
        filterset = getattr(view_class, "filterset_class", None)
        if filterset is not None:
            names.update(filterset.base_filters)
        if action == "list" and getattr(view_class, "pagination_class", None) is not None:
            names.update(PAGE_PARAMS)
    if "skip" in names:
        names.add("cursor")
    if len(getattr(view_class, "renderer_classes", ())) > 1:
        names.add(api_settings.URL_FORMAT_OVERRIDE)  # DRF's `?format=` picks one of them (the schema)
    accepted = frozenset(names)
    _ACCEPTED[key] = accepted
    return accepted


def unknown_parameters_response(request, unknown: list[str]) -> JsonResponse:
    reported = unknown[:MAX_REPORTED]
    message = f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(reported)}."
    body = {
        "success": False,
        "code": ErrorCode.VALIDATION_ERROR,
        "message": message,
        "errors": {name: ["Unknown query parameter."] for name in reported},
        "errorCodes": {name: ["unknown_parameter"] for name in reported},
        "requestId": getattr(request, "request_id", "-"),
    }
    return JsonResponse(body, status=400)


class QueryParametersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.GET or request.method == "OPTIONS" or not request.path_info.startswith("/api/"):
            return None
        view_class = getattr(view_func, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
            return None
        if getattr(view_class, "accepts_any_query", False):
            return None
        actions = getattr(view_func, "actions", None)
        action = None
        if actions:
            action = actions.get(request.method.lower())
            if action is None:
                return None  # not allowed: the view answers 405
        elif not hasattr(view_class, request.method.lower()):
            return None
        accepted = accepted_query_params(view_class, getattr(view_func, "initkwargs", {}), request.method, action)
        unknown = sorted(name for name in request.GET if name not in accepted)
        return unknown_parameters_response(request, unknown) if unknown else None
