"""The HTTP side of bulk task writes (docs/api-contract.md, "Bulk"): `POST /api/tasks` with an
array body (`create_many`, called from `TaskViewSet.create` so that the one `Idempotency-Key`
covers the batch) and `POST /api/tasks/bulk-update` (`BulkUpdateView`).

Answers are per item, in input order: `{index, status, data}` for an item that was written,
`{index, status, code, message, errors?, errorCodes?}` for one that was not (`status` is what
the single request would have answered, and the rest is its error envelope without `success`
and `requestId`, so a client handles an item's failure with the code it has for a single one).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api.choices import ChoiceField
from kernel.api.errors import ErrorCode
from kernel.api.exceptions import MESSAGES, field_codes
from kernel.api.permissions import IsUser
from kernel.api.scopes import read_write
from kernel.api.strict import StrictSerializer
from tasks import bulk
from tasks.errors import TaskError
from tasks.models import MAX_TAG_LENGTH, MAX_TAGS, Priority, Task, TaskStatus
from tasks.selectors import tasks_for_user
from tasks.serializers import WIRE_FIELDS, TaskSerializer, TaskWithEffectsSerializer, row_to_dict

MULTI_STATUS = 207


class TooManyItems(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = f"A bulk create takes at most {bulk.MAX_ITEMS} tasks; split the array."
    default_code = TaskError.TOO_MANY_ITEMS


class InvalidBody(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = f"The body is a task object, or an array of 1 to {bulk.MAX_ITEMS} task objects."
    default_code = TaskError.INVALID_BODY


# ---- answers -----------------------------------------------------------------------------


def _plain(errors):
    """Field errors as plain JSON (ErrorDetail is a str subclass with a code)."""
    if isinstance(errors, dict):
        return {str(k): _plain(v) for k, v in errors.items()}
    if isinstance(errors, list):
        return [_plain(v) for v in errors]
    return str(errors)


def _invalid(index: int, errors) -> dict:
    return {
        "index": index,
        "status": 400,
        "code": ErrorCode.VALIDATION_ERROR,
        "message": MESSAGES[400],
        "errors": _plain(errors),
        "error_codes": field_codes(errors),
    }


def _failed(index: int, exc: Exception) -> dict:
    if isinstance(exc, DjangoValidationError):
        return _invalid(index, exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
    item = {"index": index, "status": exc.status_code, "code": exc.get_codes(), "message": str(exc.detail)}
    errors = getattr(exc, "errors", None)
    if errors:
        item.update(errors=_plain(errors), error_codes=field_codes(errors, item["code"]))
    return item


def create_many(view, request) -> Response:
    """`POST /api/tasks` with an array: each item validated as a single create validates it;
    the valid ones created in one statement. Always 207: the items say how each went."""
    items = request.data
    if not items:
        raise InvalidBody()
    if len(items) > bulk.MAX_ITEMS:
        raise TooManyItems()
    context = view.get_serializer_context()
    answers: list[dict | None] = [None] * len(items)
    valid: list[tuple[int, dict]] = []
    for index, item in enumerate(items):
        serializer = TaskSerializer(data=item, context=context)
        if serializer.is_valid():
            valid.append((index, serializer.to_service_fields()))
        else:
            answers[index] = _invalid(index, serializer.errors)
    results = bulk.create_many(request.user, [fields for _, fields in valid])
    created = [task.pk for task in results if isinstance(task, Task)]
    # read back after the commit, as a single create does: understanding may already have run
    wire = _read_back(request.user, created)
    for (index, _), result in zip(valid, results, strict=True):
        if isinstance(result, Task):
            answers[index] = {"index": index, "status": 201, "data": wire[result.pk]}
        else:
            answers[index] = _failed(index, result)
    return Response(answers, status=MULTI_STATUS)


def _read_back(user, ids: list[str]) -> dict[str, dict]:
    """{id: wire shape} of the tasks written, read after the commit in one query (other apps'
    columns included)."""
    rows = tasks_for_user(user).filter(pk__in=ids).values(*WIRE_FIELDS)
    return {row["id"]: row_to_dict(row) for row in rows}


def body_is_array(request) -> bool:
    """True for an array body (the bulk create); a body neither object nor array is refused."""
    if isinstance(request.data, list):
        return True
    if not isinstance(request.data, dict):
        raise InvalidBody()
    return False


# ---- schema ------------------------------------------------------------------------------


class BulkErrorFieldsMixin(serializers.Serializer):
    code = serializers.CharField(required=False, help_text="On a failed item: the code its single request would answer.")
    message = serializers.CharField(required=False)
    errors = serializers.DictField(required=False, child=serializers.JSONField())
    error_codes = serializers.DictField(required=False, child=serializers.JSONField())


class BulkUpdateItemSerializer(BulkErrorFieldsMixin):
    index = serializers.IntegerField(min_value=0, help_text="Position of the id in `ids`.")
    id = serializers.CharField()
    status = serializers.IntegerField(help_text="200 updated; 404 not one of your tasks (nothing was touched).")
    data = TaskWithEffectsSerializer(
        required=False, help_text="The task as changed; `effects` when the change completed or reopened it."
    )


# One task object (the web client) or an array of them. A raw schema: drf-spectacular folds a
# serializer and its many=True twin into one shape. `TaskRequest` is the component the task's
# PUT registers.
_TASK_REQUEST = {"$ref": "#/components/schemas/TaskRequest"}
CREATE_REQUEST = {
    "application/json": {
        "oneOf": [
            _TASK_REQUEST,
            {"type": "array", "items": _TASK_REQUEST, "minItems": 1, "maxItems": bulk.MAX_ITEMS},
        ],
    },
}
# The 207's body, as a raw schema: a list answer of a viewset is documented as a paginated page
# by drf-spectacular, and this list is not paged.
CREATE_ANSWER = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["index", "status"],
        "properties": {
            "index": {"type": "integer", "minimum": 0, "description": "Position of the item in the request array."},
            "status": {"type": "integer", "description": "201 created; 400, 409: not created (see `code`)."},
            "data": {"$ref": "#/components/schemas/Task"},
            "code": {"type": "string", "description": "On a failed item: the code its single request would answer."},
            "message": {"type": "string"},
            "errors": {"type": "object", "additionalProperties": {}},
            "errorCodes": {"type": "object", "additionalProperties": {}},
        },
    },
}

CREATE_EXAMPLES = [
    OpenApiExample(
        "bulk", request_only=True,
        value=[{"title": "Write report", "priority": "high"}, {"title": ""}],
    ),
    OpenApiExample(
        "bulk answer", response_only=True, status_codes=["207"],
        value={"success": True, "data": [
            {"index": 0, "status": 201, "data": {"id": "6751a0c2e4b0a1b2c3d4e5f6", "title": "Write report"}},
            {"index": 1, "status": 400, "code": "validation_error", "message": "Validation error",
             "errors": {"title": ["This field may not be blank."]}, "errorCodes": {"title": ["missing_field"]}},
        ]},
    ),
]


# ---- bulk update -------------------------------------------------------------------------


class BulkSetSerializer(StrictSerializer):
    status = ChoiceField(choices=TaskStatus.choices, required=False)
    priority = ChoiceField(choices=Priority.choices, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH, trim_whitespace=True, allow_blank=False),
        max_length=MAX_TAGS, required=False,
    )

    def validate_tags(self, value):
        return list(dict.fromkeys(value))  # de-duplicated, order kept, as on a single update

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Set at least one of status, priority, tags.")
        return attrs


class BulkUpdateSerializer(StrictSerializer):
    ids = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=bulk.MAX_ITEMS,
        help_text=f"1 to {bulk.MAX_ITEMS} task ids, each once.",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["set"] = BulkSetSerializer(help_text="The fields to set on every task named.")
        return fields

    def validate_ids(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each id at most once.", code=ErrorCode.INVALID)
        return value


class BulkUpdateView(APIView):
    required_scopes = read_write("tasks:read", "tasks:write")
    permission_classes = [IsUser]

    @extend_schema(
        operation_id="tasksBulkUpdate",
        summary="Set status, priority or tags on many of my tasks",
        description=(
            "Per id, in the order of `ids`: 200 with the task, or 404 when it is not one of yours (nothing "
            "is touched). A status change that completes or reopens a task does so exactly as a PATCH "
            "would (award, events, `effects` on that item)."
        ),
        request=BulkUpdateSerializer,
        responses={200: BulkUpdateItemSerializer(many=True)},
        examples=[
            OpenApiExample(
                "bulk update", request_only=True,
                value={"ids": ["6751a0c2e4b0a1b2c3d4e5f6", "6751a0c2e4b0a1b2c3d4e5f7"], "set": {"priority": "high"}},
            ),
        ],
    )
    def post(self, request):
        serializer = BulkUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data["ids"]
        done = bulk.update_many(request.user, ids, dict(serializer.validated_data["set"]))
        wire = _read_back(request.user, list(done))
        answers = []
        for index, pk in enumerate(ids):
            if pk not in done:
                answers.append({"index": index, "id": pk, "status": 404, "code": ErrorCode.NOT_FOUND,
                                "message": "Task not found."})
                continue
            data = wire[pk]
            effects = done[pk][1]
            if effects is not None:
                data = {**data, "effects": effects.as_dict()}
            answers.append({"index": index, "id": pk, "status": 200, "data": data})
        return Response(answers)
