"""`/api/integrations` (API.md "Integrations"): parse, authorize, call integrations.services,
respond. One view class per URL; the connection is resolved (and scoped to the user) by
`ConnectionMixin` before a handler runs."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import selectors, services
from integrations.errors import IntegrationError
from integrations.models import Connection, SyncRun
from integrations.providers import all_providers, get_provider, slugs
from integrations.providers.base import RateLimited, TransientError, WebhookRejected
from integrations.serializers import (
    AuthorizeUrlSerializer,
    ConnectionSerializer,
    ConnectionUpdateSerializer,
    DisconnectResultSerializer,
    ProviderSerializer,
    SyncRequestSerializer,
    SyncResultSerializer,
    SyncRunSerializer,
    TokenConnectSerializer,
    WebhookAckSerializer,
)
from kernel.api.conditional import precondition
from kernel.api.exceptions import Conflict, ServiceUnavailable, error_body
from kernel.api.pagination import LimitSkipPagination, limit_parameter, paginate_list, paginated_schema, skip_parameter
from kernel.api.permissions import IsUser
from kernel.api.scopes import read_write
from kernel.idempotency import idempotent
from kernel.versioning import refresh_version
from tasks import selectors as task_selectors

logger = logging.getLogger("integrations")


def _raise(exc: services.IntegrationError):
    if exc.status == 409:
        raise Conflict(exc.message)
    if exc.field:
        raise ValidationError({exc.field: [exc.message]})
    raise ValidationError({"non_field_errors": [exc.message]})


def _service(service: str) -> str:
    if service not in slugs():
        raise NotFound(f"Unknown service '{service}'.")
    return service


class ConnectionMixin:
    permission_classes = [IsUser]

    def connection(self, request, service: str, *, active: bool = False) -> Connection:
        conn = selectors.connection_of(request.user, _service(service))
        if conn is None:
            raise NotFound(f"No {get_provider(service).name} integration.")
        if active and not conn.is_active:
            raise Conflict(
                f"The {get_provider(service).name} integration is {conn.status.replace('_', ' ')}; connect it again."
            )
        return conn


class IntegrationListView(APIView):
    required_scopes = read_write("integrations:read")

    permission_classes = [IsUser]

    @extend_schema(
        summary="My integrations (never a token)",
        responses=paginated_schema(ConnectionSerializer),
        operation_id="integrations_list",
        parameters=[limit_parameter(), skip_parameter()],
    )
    def get(self, request):
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(selectors.connections_of(request.user), request, view=self)
        return paginator.get_paginated_response(
            ConnectionSerializer(page, many=True, context={"check_running": True}).data
        )


class ProviderListView(APIView):
    required_scopes = read_write("integrations:read")

    permission_classes = [IsUser]

    @extend_schema(
        summary="The providers this server can connect, and my status with each",
        responses=paginated_schema(ProviderSerializer),
        operation_id="integrations_providers",
        parameters=[limit_parameter(), skip_parameter()],
    )
    def get(self, request):
        mine = selectors.statuses_of(request.user)
        data = [
            {
                "service": p.slug,
                "name": p.name,
                "auth_type": p.auth_type,
                "configured": p.configured,
                "supports_pkce": p.supports_pkce,
                "token_connect": p.token_connect,
                "credential_fields": list(p.credential_fields),
                "webhook_url": services.webhook_url(p.slug, request),
                "webhook_scheme": p.webhook_scheme,
                "connected": mine.get(p.slug) in ("connected", "syncing", "error"),
                "status": mine.get(p.slug),
            }
            for p in all_providers()
        ]
        return paginate_list(request, data)


class AuthorizeView(APIView):
    permission_classes = [IsUser]

    @extend_schema(
        operation_id="integrations_authorize",
        summary="Start connecting: the provider's authorize URL (state bound to me, single use)",
        request=None,
        responses=AuthorizeUrlSerializer,
    )
    def post(self, request, service):
        try:
            url, row, nonce = services.start_authorization(request.user, _service(service))
        except services.IntegrationError as exc:
            _raise(exc)
        response = Response({"authorize_url": url, "state_expires_at": row.expires_at})
        # Lax: the provider's redirect back is a top-level GET navigation, which carries it.
        response.set_cookie(
            services.browser_cookie(service),
            nonce,
            max_age=settings.INTEGRATIONS_STATE_TTL,
            path=services.browser_cookie_path(service),
            secure=settings.INTEGRATIONS_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


class CallbackView(APIView):
    """The OAuth redirect target: the browser arrives here from the provider; it is sent on to
    the web app with `?service=...&status=connected` (or `status=error&message=...`)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    # Providers add parameters of their own (Google: `scope`, `authuser`, `prompt`, ...).
    accepts_any_query = True  # kernel.api.query_params

    @extend_schema(
        summary="OAuth redirect target (the provider sends the browser here)",
        parameters=[
            OpenApiParameter("state", str, required=False),
            OpenApiParameter("code", str, required=False),
            OpenApiParameter("oauth_token", str, required=False),
            OpenApiParameter("oauth_verifier", str, required=False),
            OpenApiParameter("error", str, required=False),
        ],
        responses={302: OpenApiResponse(description="Redirect to the web app")},
    )
    def get(self, request, service):
        _service(service)
        params = dict(request.query_params.items())
        nonce = request.COOKIES.get(services.browser_cookie(service))
        try:
            conn = services.complete_authorization(service, params, browser_nonce=nonce)
        except services.IntegrationError as exc:
            logger.info("OAuth callback for %s refused: %s", service, exc.message)
            return self._back(service, "error", exc.message)
        except TransientError:
            return self._back(service, "error", "The provider did not answer; try again.")
        return self._back(service, "connected", connection=conn.pk)

    @staticmethod
    def _back(service: str, outcome: str, message: str = "", connection: str = "") -> HttpResponseRedirect:
        query = {"service": service, "status": outcome}
        if message:
            query["message"] = message
        if connection:
            query["connection"] = connection
        response = HttpResponseRedirect(f"{settings.INTEGRATIONS_COMPLETE_URL}?{urlencode(query)}")
        # the nonce served its one flow (its state is spent either way)
        response.delete_cookie(
            services.browser_cookie(service), path=services.browser_cookie_path(service), samesite="Lax"
        )
        return response


class TokenConnectView(APIView):
    created_location = "/api/integrations/{service}"
    permission_classes = [IsUser]

    @extend_schema(
        operation_id="integrations_token_connect",
        summary="Connect with a token (Notion internal token, Trello token, GitHub PAT)",
        request=TokenConnectSerializer,
        responses={201: ConnectionSerializer},
    )
    @idempotent
    def post(self, request):
        body = TokenConnectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            conn = services.connect_with_credentials(
                request.user, body.validated_data["service"], body.validated_data["credentials"]
            )
        except services.IntegrationError as exc:
            _raise(exc)
        except (TransientError, RateLimited) as exc:
            raise ServiceUnavailable(
                f"{get_provider(body.validated_data['service']).name} did not answer; try again later."
            ) from exc
        conn.refresh_from_db()
        return Response(ConnectionSerializer(conn).data, status=status.HTTP_201_CREATED)


class ConnectionDetailView(ConnectionMixin, APIView):
    versioned = True  # If-Match (kernel.api.conditional)
    required_scopes = read_write("integrations:read")

    @extend_schema(summary="One of my integrations", responses=ConnectionSerializer)
    def get(self, request, service):
        return Response(ConnectionSerializer(self.connection(request, service), context={"check_running": True}).data)

    @extend_schema(summary="Change sync settings", request=ConnectionUpdateSerializer, responses=ConnectionSerializer)
    def patch(self, request, service):
        conn = self.connection(request, service)
        body = ConnectionUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        current = lambda: ConnectionSerializer(self.connection(request, service)).data  # noqa: E731
        with precondition(request, Connection.objects.filter(pk=conn.pk, user=request.user), current):
            conn = services.update_settings(conn, body.validated_data)
        refresh_version(conn)
        return Response(ConnectionSerializer(conn).data)


class SyncRunListView(ConnectionMixin, APIView):
    required_scopes = read_write("integrations:read")

    @extend_schema(
        summary="The recorded sync runs of an integration (newest first)",
        responses=SyncRunSerializer(many=True),
        parameters=[limit_parameter(), skip_parameter()],
    )
    def get(self, request, service):
        conn = self.connection(request, service)
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(selectors.runs_of(conn), request, view=self)
        return paginator.get_paginated_response(SyncRunSerializer(page, many=True).data)


def _sync_result(conn: Connection, requested: services.SyncRequested) -> tuple[dict, int]:
    run = requested.run
    tasks = task_selectors.as_wire_rows(selectors.tasks_imported_by(conn, run)) if run is not None else []
    data = {
        "service": conn.service,
        "queued": requested.job_id is not None,
        "run": SyncRunSerializer(run).data if run is not None else None,
        "count": (run.created_count + run.updated_count) if run is not None else 0,
        "tasks": tasks,
    }
    if requested.job_id is not None:
        data["job"] = {"id": requested.job_id, "status": "queued"}
    accepted = requested.job_id is not None or requested.paused  # a paused run resumes at the next sync
    return data, status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK


class SyncView(ConnectionMixin, APIView):
    @extend_schema(
        summary="Sync now (202 with a job, or the result when run inline)",
        request=SyncRequestSerializer,
        responses={200: SyncResultSerializer, 202: SyncResultSerializer},
    )
    def post(self, request, service):
        conn = self.connection(request, service, active=True)
        body = SyncRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        try:
            requested = services.request_sync(conn, full=body.validated_data["full"], trigger=SyncRun.Trigger.MANUAL)
        except services.IntegrationError as exc:
            _raise(exc)
        data, code = _sync_result(conn, requested)
        return Response(data, status=code)


class SyncAllView(APIView):
    permission_classes = [IsUser]

    @extend_schema(
        summary="Sync every connected integration with autoSync on",
        request=None,
        responses=SyncResultSerializer(many=True),
    )
    def post(self, request):
        results = []
        for conn in selectors.auto_sync_connections_of(request.user):
            try:
                data, _ = _sync_result(conn, services.request_sync(conn, full=False, trigger=SyncRun.Trigger.MANUAL))
            except services.IntegrationError as exc:
                data = {
                    "service": conn.service,
                    "queued": False,
                    "run": None,
                    "count": 0,
                    "tasks": [],
                    "error": exc.message,
                }
            results.append(data)
        return Response(results)


class DisconnectView(ConnectionMixin, APIView):
    @extend_schema(
        summary="Disconnect: revoke at the provider where it can, wipe the secrets",
        request=None,
        responses=DisconnectResultSerializer,
    )
    def post(self, request, service):
        conn, revoked = services.disconnect(self.connection(request, service))
        return Response({**ConnectionSerializer(conn).data, "revoked": revoked})


class WebhookView(APIView):
    """Provider-signed deliveries: verified on the raw body, de-duplicated by delivery id,
    answered at once; the sync they ask for runs in a worker."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []  # signed provider traffic; a forged delivery costs one HMAC
    accepts_any_query = True  # providers append their own (a validation token); kernel.api.query_params

    def _handle(self, request, service):
        _service(service)
        provider = get_provider(service)
        headers = dict(request.headers.items())
        try:
            event = provider.verify_webhook(
                method=request.method,
                headers=headers,
                body=request.body,
                callback_url=services.webhook_url(service, request),
                secret=services.webhook_secret(service),
            )
        except WebhookRejected as exc:
            logger.warning("rejected a %s webhook from %s: %s", service, request.META.get("REMOTE_ADDR", "?"), exc)
            return Response(
                error_body("Invalid webhook signature.", code=IntegrationError.INVALID_SIGNATURE), status=status.HTTP_401_UNAUTHORIZED
            )
        try:
            if event.kind == "handshake":
                services.store_handshake_secret(service, event.routing.get("verification_token", ""))
                return Response({"received": True})
            if event.kind == "ping" or request.method == "HEAD":
                return Response({"received": True})
            accepted = services.accept_webhook(service, event, request.body)
        except RedisError as exc:  # replay and rate state unknown: the provider retries later
            raise ServiceUnavailable("Webhook intake is unavailable; retry later.") from exc
        if not accepted.new:
            return Response({"received": True, "duplicate": True})
        return Response(
            {"received": True, "connections": len(accepted.connections), "deferred": len(accepted.deferred)}
        )

    @extend_schema(
        summary="Provider webhook delivery (signature checked on the raw body)",
        request=OpenApiTypes.BINARY,
        responses={200: WebhookAckSerializer, 401: OpenApiResponse(description="Bad signature")},
    )
    def post(self, request, service):
        return self._handle(request, service)

    @extend_schema(
        summary="Webhook URL check (Trello's HEAD)", request=None, responses={200: OpenApiResponse(description="OK")}
    )
    def head(self, request, service):
        _service(service)
        return HttpResponse(status=200)
