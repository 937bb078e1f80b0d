"""The wire shapes of API.md "Integrations" (snake_case here; camelCased by the renderer).
No serializer here has a field for a token or a secret."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from integrations.models import Connection, Service, SyncRun
from integrations.providers import get_provider, slugs
from integrations.services import is_syncing
from kernel.api.choices import ChoiceField
from kernel.api.fields import DateTimeField, IdFieldsMixin
from kernel.api.strict import StrictSerializer
from kernel.api.times import iso_utc, utc_z

MAX_SYNC_INTERVAL = 7 * 24 * 3600


class SyncRunSerializer(IdFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id",
            "trigger",
            "status",
            "full",
            "started_at",
            "finished_at",
            "duration_ms",
            "pages",
            "items_seen",
            "created_count",
            "updated_count",
            "unchanged_count",
            "completed_count",
            "deleted_count",
            "skipped_count",
            "retries",
            "errors",
            "error",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # earlier releases stored each error's `at` with +00:00
        data["errors"] = utc_z(data.get("errors"))
        return data


class IntegrationAccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class SyncFiltersSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100, required=False)
    projects = serializers.ListField(child=serializers.CharField(max_length=255), max_length=200, required=False)
    statuses = serializers.ListField(
        child=ChoiceField(choices=["open", "in_progress", "completed", "cancelled"]),
        max_length=4,
        required=False,
    )
    documents = serializers.ListField(child=serializers.CharField(max_length=255), max_length=100, required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown filter."] for name in sorted(unknown)})
        return super().to_internal_value(data)


class IntegrationConfigurationSerializer(serializers.Serializer):
    auto_sync = serializers.BooleanField()
    sync_interval = serializers.IntegerField()
    sync_filters = SyncFiltersSerializer()
    generate_challenges = serializers.BooleanField()


class IntegrationSyncStatsSerializer(serializers.Serializer):
    total_tasks_synced = serializers.IntegerField()
    last_sync_success = serializers.BooleanField()
    last_sync_error = serializers.CharField(allow_blank=True)


class ConnectionSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    service = ChoiceField(choices=Service.choices)
    name = serializers.CharField()
    status = serializers.CharField()
    auth_type = serializers.CharField()
    needs_reauth = serializers.BooleanField()
    paused_reason = serializers.CharField(allow_null=True)
    account = IntegrationAccountSerializer()
    configuration = IntegrationConfigurationSerializer()
    sources = serializers.ListField(child=serializers.DictField())
    last_sync = DateTimeField(allow_null=True)
    next_sync = DateTimeField(allow_null=True)
    sync_stats = IntegrationSyncStatsSerializer()
    token_expires_at = DateTimeField(allow_null=True)
    connected_at = DateTimeField(allow_null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()
    version = serializers.IntegerField()

    def to_representation(self, c: Connection):
        status = c.status
        if status == "connected" and self.context.get("check_running") and is_syncing(c.pk):
            status = "syncing"
        return {
            "_id": c.pk,
            "id": c.pk,
            "service": c.service,
            "name": get_provider(c.service).name,
            "status": status,
            "auth_type": c.auth_type,
            "needs_reauth": c.status == "needs_reauth",
            # Set while syncing is paused because the provider is not configured on this server.
            "paused_reason": c.paused_reason or None,
            "account": {"id": c.external_account_id, "name": c.external_account_name},
            "configuration": {
                "auto_sync": c.auto_sync,
                "sync_interval": c.sync_interval,
                "sync_filters": c.sync_filters,
                "generate_challenges": c.generate_challenges,
            },
            "sources": c.sources,
            "last_sync": iso_utc(c.last_sync_at),
            "next_sync": iso_utc(c.next_sync_at) if c.auto_sync and c.status in ("connected", "error") else None,
            "sync_stats": {
                "total_tasks_synced": c.total_items_synced,
                "last_sync_success": c.last_sync_success,
                "last_sync_error": c.last_error,
            },
            "token_expires_at": iso_utc(c.token_expires_at),
            "connected_at": iso_utc(c.connected_at),
            "created_at": iso_utc(c.created_at),
            "updated_at": iso_utc(c.updated_at),
            "version": c.version,
        }


class ConnectionUpdateSerializer(StrictSerializer):
    auto_sync = serializers.BooleanField(required=False)
    sync_interval = serializers.IntegerField(required=False, max_value=MAX_SYNC_INTERVAL)
    sync_filters = SyncFiltersSerializer(required=False)
    generate_challenges = serializers.BooleanField(required=False)

    def validate_sync_interval(self, value):
        minimum = settings.INTEGRATIONS_MIN_SYNC_INTERVAL
        if value < minimum:
            raise serializers.ValidationError(f"Must be at least {minimum} seconds.")
        return value

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of autoSync, syncInterval, syncFilters, generateChallenges."
            )
        return attrs


# Tokens travel in HTTP headers, which carry visible ASCII only; anything else is not a token
# and would fail inside the HTTP client (a 500) instead of here (a 400).
_VISIBLE_ASCII = r"^[\x21-\x7e]+$"
_TOKEN_ERROR = {"invalid": "A token is visible ASCII characters only."}


def _token_field(**kwargs):
    return serializers.RegexField(_VISIBLE_ASCII, required=False, max_length=4000, error_messages=_TOKEN_ERROR, **kwargs)


class CredentialsSerializer(serializers.Serializer):
    access_token = _token_field(trim_whitespace=True)
    token = _token_field(trim_whitespace=True)
    api_key = _token_field(trim_whitespace=True)
    refresh_token = _token_field()
    token_expires_at = DateTimeField(required=False)

    def validate(self, attrs):
        if not (attrs.get("access_token") or attrs.get("token") or attrs.get("api_key")):
            raise serializers.ValidationError("Give accessToken (or token / apiKey).")
        return attrs


class TokenConnectSerializer(StrictSerializer):
    service = ChoiceField(choices=Service.choices)
    credentials = CredentialsSerializer()

    def validate_service(self, value):
        if value not in slugs():
            raise serializers.ValidationError("Unknown service.")
        return value


class SyncRequestSerializer(StrictSerializer):
    full = serializers.BooleanField(required=False, default=False)


class AuthorizeUrlSerializer(serializers.Serializer):
    authorize_url = serializers.URLField()
    state_expires_at = DateTimeField()


class ProviderSerializer(serializers.Serializer):
    service = serializers.CharField()
    name = serializers.CharField()
    auth_type = serializers.CharField()
    configured = serializers.BooleanField()
    supports_pkce = serializers.BooleanField()
    token_connect = serializers.BooleanField()
    credential_fields = serializers.ListField(child=serializers.CharField())
    webhook_url = serializers.CharField()
    webhook_scheme = serializers.CharField()
    connected = serializers.BooleanField()
    status = serializers.CharField(allow_null=True)


class SyncResultSerializer(serializers.Serializer):
    service = serializers.CharField()
    queued = serializers.BooleanField()
    run = SyncRunSerializer(allow_null=True)
    count = serializers.IntegerField()
    tasks = serializers.ListField(child=serializers.DictField())
    error = serializers.CharField(required=False)


class DisconnectResultSerializer(ConnectionSerializer):
    revoked = serializers.BooleanField()


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField(required=False)
    connections = serializers.IntegerField(required=False)
    deferred = serializers.IntegerField(required=False, help_text="connections over their webhook sync limit")
