"""Query filters of `GET /api/tasks` (django-filter). Unknown enum values and unparseable dates
are a 400 with the offending parameter named."""

from __future__ import annotations

import json

import django_filters
from django import forms
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, Value, When

from kernel.api.choices import FilterSet
from kernel.api.errors import ErrorCode
from kernel.api.fields import check_datetime
from tasks.models import Priority, Task, TaskSource, TaskStatus, TaskType

# `ordering=priority` sorts by urgency, not alphabetically.
PRIORITY_RANK = Case(
    *(When(priority=p, then=Value(rank)) for rank, p in enumerate(Priority.values)), output_field=IntegerField()
)


class NullsLastOrderingFilter(django_filters.OrderingFilter):
    """Ordering where empty values (no due date) sort last either way, with a stable tiebreak."""

    def filter(self, qs, value):
        if not value:
            return qs
        ordering = []
        for param in value:
            field = self.get_ordering_value(param)
            name = field.lstrip("-")
            expr = PRIORITY_RANK if name == "priority" else F(name)
            ordering.append(expr.desc(nulls_last=True) if field.startswith("-") else expr.asc(nulls_last=True))
        return qs.order_by(*ordering, "-id")


class BoundedDateTimeFormField(forms.DateTimeField):
    """A date-time query value held to the same rules as date-times in bodies (offset within
    ±14:00, sane years) and turned to UTC before it reaches the database."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return check_datetime(parsed)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code=ErrorCode.INVALID) from None


class BoundedDateTimeFilter(django_filters.DateTimeFilter):
    field_class = BoundedDateTimeFormField


class TaskFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=TaskStatus.choices)
    type = django_filters.ChoiceFilter(choices=TaskType.choices)
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    source = django_filters.ChoiceFilter(choices=TaskSource.choices)
    tag = django_filters.CharFilter(method="filter_tag", max_length=50)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    # date or ISO 8601 date-time; a naive value is read in the user's time zone
    dueBefore = BoundedDateTimeFilter(field_name="due_date", lookup_expr="lte")  # noqa: N815
    dueAfter = BoundedDateTimeFilter(field_name="due_date", lookup_expr="gte")  # noqa: N815
    ordering = NullsLastOrderingFilter(
        fields=(
            ("created_at", "createdAt"),
            ("updated_at", "updatedAt"),
            ("due_date", "dueDate"),
            ("title", "title"),
            ("estimated_duration", "estimatedDuration"),
            ("completed_at", "completedAt"),
            ("priority", "priority"),
        )
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_tag(self, queryset, name, value):
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])  # jsonb @>
        # SQLite has no JSON containment: match the quoted element in the JSON text
        return queryset.filter(tags__icontains=json.dumps(value))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))
