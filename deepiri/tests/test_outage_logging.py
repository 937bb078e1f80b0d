"""A handled 503 (a dependency down or hung) is logged at WARNING by django.request, not ERROR;
a real 500 still is ERROR. Through the real middleware stack, with views of this module."""

from __future__ import annotations

import logging

import pytest
import redis
from django.http import JsonResponse
from django.test import Client
from django.urls import path
from rest_framework.views import APIView


def _hung_redis(request):
    raise redis.exceptions.TimeoutError("Timeout reading from socket")


class _HungRedisApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        raise redis.exceptions.TimeoutError("Timeout reading from socket")


def _bug(request):
    raise RuntimeError("a real bug")


def _fine(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("api/x-hung", _hung_redis),
    path("api/x-hung-drf", _HungRedisApi.as_view()),
    path("api/x-bug", _bug),
    path("api/x-fine", _fine),
]


def request_records(caplog, fragment):
    return [r for r in caplog.records if r.name == "django.request" and fragment in r.getMessage()]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("route", ["/api/x-hung", "/api/x-hung-drf"])
def test_a_handled_503_is_a_warning_and_a_500_stays_an_error(caplog, route):
    client = Client(raise_request_exception=False)
    caplog.set_level(logging.WARNING)
    assert client.get(route).status_code == 503
    assert client.get("/api/x-bug").status_code == 500
    unavailable = request_records(caplog, route)
    assert unavailable and all(r.levelno == logging.WARNING for r in unavailable), [
        (r.levelname, r.getMessage()) for r in unavailable]
    bug = request_records(caplog, "/api/x-bug")
    assert bug and all(r.levelno == logging.ERROR for r in bug)
