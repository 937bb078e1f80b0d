"""Multiplayer session endpoints (API.md "Challenges"):

POST /api/challenges/{id}/sessions     {inviteUserIds[]} -> 201 session
GET  /api/challenges/sessions/{id}     session state (participants only; others get 404)
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.models import Challenge
from kernel.api.choices import ChoiceField
from kernel.api.strict import StrictSerializer
from kernel.idempotency import idempotent
from kernel.ids import is_valid_id

from . import services as sessions


class SessionParticipantSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    name = serializers.CharField()
    progress = serializers.IntegerField(min_value=0, max_value=100)
    finished_at = serializers.CharField(allow_null=True)
    online = serializers.BooleanField()
    rank = serializers.IntegerField(allow_null=True)
    bonus_points = serializers.IntegerField()
    host = serializers.BooleanField()


class SessionSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    challenge_id = serializers.CharField()
    room = serializers.CharField()
    status = ChoiceField(choices=["active", "completed", "expired"])
    started_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    winner_id = serializers.CharField(allow_null=True)
    first_finisher_bonus = serializers.IntegerField()
    participants = SessionParticipantSerializer(many=True)


class CreateSessionSerializer(StrictSerializer):
    invite_user_ids = serializers.ListField(
        child=serializers.CharField(max_length=24), min_length=1, max_length=sessions.MAX_INVITES
    )


class CreateSessionView(APIView):
    created_location = "/api/challenges/sessions/{id}"

    @extend_schema(request=CreateSessionSerializer, responses={201: SessionSerializer})
    @idempotent
    def post(self, request, challenge_id: str):
        if not is_valid_id(challenge_id):
            raise NotFound("Challenge not found.")
        challenge = Challenge.objects.filter(pk=challenge_id, user=request.user).first()
        if challenge is None:
            raise NotFound("Challenge not found.")
        body = CreateSessionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        session = sessions.create_session(request.user, challenge, body.validated_data["invite_user_ids"])
        return Response(sessions.session_payload(session), status=status.HTTP_201_CREATED)


class SessionDetailView(APIView):
    @extend_schema(responses=SessionSerializer)
    def get(self, request, session_id: str):
        session = sessions.get_session_for_user(request.user, session_id)
        sessions._maybe_expire(session)
        return Response(sessions.session_payload(session))


class SessionCompleteView(APIView):
    """A participant finishes: checked by the server (active session, minimum time, once); the
    challenge's owner completes the challenge itself. Socket progress never finishes anyone."""

    @extend_schema(request=None, responses={200: SessionSerializer})
    def post(self, request, session_id: str):
        session = sessions.get_session_for_user(request.user, session_id)
        return Response(sessions.complete_in_session(request.user, session))
