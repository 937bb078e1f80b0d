"""`/api/webhooks`: a user's outgoing webhook endpoints, their delivery log, and the catalogue of
event types. Parse, authorize, call integrations.webhooks.services, respond; another user's
endpoint or delivery is a 404. Reachable with a personal access token that has `webhooks:manage`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.webhooks import catalogue, selectors, services
from integrations.webhooks.serializers import (
    DeliveryQuerySerializer,
    DeliverySerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    EventTypeSerializer,
    SecretSerializer,
)
from kernel.api.pagination import (
    LimitSkipPagination,
    limit_parameter,
    paginate_list,
    paginated_schema,
    skip_parameter,
)
from kernel.api.permissions import IsUser
from kernel.api.scopes import read_write

MANAGE = read_write("webhooks:manage", "webhooks:manage")


class _Base(APIView):
    permission_classes = [IsUser]
    required_scopes = MANAGE


def _with_secret(endpoint, secret: str) -> dict:
    data = EndpointSerializer(endpoint).data
    data["secret"] = secret
    return data


class EndpointListView(_Base):
    @extend_schema(operation_id="webhooks_endpoints_list", summary="My webhook endpoints",
                   parameters=[limit_parameter(), skip_parameter()], responses=EndpointSerializer(many=True))
    def get(self, request):
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(selectors.endpoints_of(request.user), request, view=self)
        return paginator.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(operation_id="webhooks_endpoints_create", summary="Add an endpoint (its secret is shown once)",
                   request=EndpointCreateSerializer, responses={201: EndpointWithSecretSerializer})
    def post(self, request):
        body = EndpointCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint, secret = services.create_endpoint(request.user, **body.validated_data)
        return Response(_with_secret(endpoint, secret), status=status.HTTP_201_CREATED)


class EndpointDetailView(_Base):
    @extend_schema(operation_id="webhooks_endpoints_retrieve", summary="One endpoint",
                   responses=EndpointSerializer)
    def get(self, request, endpoint_id):
        return Response(EndpointSerializer(selectors.endpoint_of(request.user, endpoint_id)).data)

    @extend_schema(operation_id="webhooks_endpoints_update",
                   summary="Change an endpoint (status: enabled re-enables a disabled one)",
                   request=EndpointUpdateSerializer, responses=EndpointSerializer)
    def patch(self, request, endpoint_id):
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        body = EndpointUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(EndpointSerializer(services.update_endpoint(endpoint, body.validated_data)).data)

    @extend_schema(operation_id="webhooks_endpoints_destroy", summary="Delete an endpoint and its log",
                   responses={204: None})
    def delete(self, request, endpoint_id):
        services.delete_endpoint(selectors.endpoint_of(request.user, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretView(_Base):
    @extend_schema(operation_id="webhooks_endpoints_rotate_secret", request=None, responses=SecretSerializer,
                   summary="A new signing secret, shown once; the old one keeps signing beside it for 24 h")
    def post(self, request, endpoint_id):
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        secret = services.rotate_secret(endpoint)
        endpoint.refresh_from_db(fields=["previous_secret_expires_at"])
        return Response({"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at})


class TestView(_Base):
    @extend_schema(operation_id="webhooks_endpoints_test", request=None, responses={202: DeliverySerializer},
                   summary="Send a `webhook.test` event to this endpoint")
    def post(self, request, endpoint_id):
        delivery = services.send_test(selectors.endpoint_of(request.user, endpoint_id))
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListView(_Base):
    @extend_schema(
        operation_id="webhooks_deliveries_list", summary="The endpoint's delivery log, newest first",
        parameters=[OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"]),
                    limit_parameter(), skip_parameter()],
        responses=DeliverySerializer(many=True),
    )
    def get(self, request, endpoint_id):
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(
            selectors.deliveries_of(endpoint, query.validated_data.get("status")), request, view=self
        )
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class ResendView(_Base):
    @extend_schema(operation_id="webhooks_deliveries_resend", request=None, responses={202: DeliverySerializer},
                   summary="Send a delivery again now (the same webhook-id)")
    def post(self, request, delivery_id):
        delivery = services.resend(selectors.delivery_of(request.user, delivery_id))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventTypeListView(_Base):
    @extend_schema(
        operation_id="webhooks_event_types",
        parameters=[limit_parameter(), skip_parameter()],
        summary="The event types, with the JSON schema of each `data`",
        description="Every delivery's body is the Standard Webhooks envelope `{type, timestamp, data}`; the "
        "example is the whole catalogue, so the schema of each type's `data` is in this document too.",
        responses=OpenApiResponse(
            paginated_schema(EventTypeSerializer),
            examples=[OpenApiExample("catalogue", value=catalogue.catalogue(), response_only=True)],
        ),
    )
    def get(self, request):
        return paginate_list(request, catalogue.catalogue())
