"""`/api/challenges` (API.md "Challenges"): parse, authorize, call challenges.services, respond."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from challenges import services
from challenges.models import Challenge, ChallengeStatus, ChallengeType
from challenges.selectors import challenges_for_user, get_challenge_for_user
from challenges.serializers import (
    ChallengeHintSerializer,
    ChallengeSerializer,
    ChallengeWithEffectsSerializer,
    CompleteChallengeSerializer,
    GenerateChallengeSerializer,
    challenge_to_dict,
)
from kernel.api.choices import FilterSet
from kernel.api.pagination import paginate_counted
from kernel.api.permissions import IsUser
from kernel.api.scopes import read_write
from kernel.api.times import UserTimeZoneMixin
from kernel.idempotency import idempotent
from tasks.selectors import get_task_for_user


class ChallengeFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=ChallengeStatus.choices)
    type = django_filters.ChoiceFilter(choices=ChallengeType.choices)
    taskId = django_filters.CharFilter(field_name="task_id", max_length=64)  # noqa: N815

    class Meta:
        model = Challenge
        fields: list[str] = []


CONFLICT = OpenApiResponse(description="Not possible in the challenge's current state (e.g. expired)")


@extend_schema_view(
    list=extend_schema(summary="List my challenges (newest first, task populated)",
                       responses=ChallengeSerializer(many=True)),
    retrieve=extend_schema(summary="One of my challenges", responses=ChallengeSerializer),
)
class ChallengeViewSet(UserTimeZoneMixin, viewsets.GenericViewSet):
    required_scopes = read_write("challenges:read", "challenges:write")

    created_location = "/api/challenges/{id}"  # kernel.api.renderers.set_location (202 too)
    permission_classes = [IsUser]
    serializer_class = ChallengeSerializer
    filterset_class = ChallengeFilter
    queryset = Challenge.objects.none()  # for the schema; real scoping in get_queryset

    def get_queryset(self):
        return challenges_for_user(self.request.user)

    def get_object(self):
        return get_challenge_for_user(self.request.user, self.kwargs["pk"])

    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = paginate_counted(self, queryset)
        return self.get_paginated_response([challenge_to_dict(c) for c in page])

    def retrieve(self, request, pk=None):
        return Response(challenge_to_dict(self.get_object()))

    @extend_schema(
        summary="Generate a challenge for one of my tasks",
        description="202 at once with the challenge in `status: generating`: a worker makes it, and the "
        "`challenge-generated` socket event (or `GET /api/challenges/{id}`) brings the result. 201 when "
        "it is already made: a live challenge of the task returned again, or one made inline without "
        "a broker. Works when the AI service is down (rule-based fallback).",
        request=GenerateChallengeSerializer,
        responses={
            201: ChallengeSerializer,
            202: ChallengeSerializer,
            404: OpenApiResponse(description="The task is missing or not yours"),
        },
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def generate(self, request):
        serializer = GenerateChallengeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        task = get_task_for_user(request.user, data["task_id"])
        challenge = services.request_generation(
            request.user, task, type=data.get("type") or None, difficulty=data.get("difficulty") or None,
            another=data.get("new", False),
        )
        # Never wait for the worker here: a slow or hung AI service would hold this web worker.
        # The row is read again because without a broker the job ran inline, after the commit.
        challenge = get_challenge_for_user(request.user, challenge.pk)
        ready = challenge.status != ChallengeStatus.GENERATING
        return Response(
            challenge_to_dict(challenge), status=status.HTTP_201_CREATED if ready else status.HTTP_202_ACCEPTED
        )

    @extend_schema(summary="Start: sets active, startedAt and expiresAt", request=None,
                   responses={200: ChallengeSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        challenge = services.start_challenge(request.user, self.get_object())
        return Response(challenge_to_dict(challenge))

    @extend_schema(summary="Take the next hint (counts toward hintsUsed)", request=None,
                   responses={200: ChallengeHintSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def hint(self, request, pk=None):
        return Response(services.take_hint(request.user, self.get_object()))

    @extend_schema(
        summary="Complete (idempotent; refused after expiry)",
        request=CompleteChallengeSerializer,
        responses={200: ChallengeWithEffectsSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        challenge = self.get_object()
        serializer = CompleteChallengeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = {k: v for k, v in serializer.validated_data.items() if v is not None}
        result = services.complete_challenge(request.user, challenge, **values)
        data = challenge_to_dict(result.challenge)
        data["effects"] = result.effects.as_dict()
        return Response(data)
