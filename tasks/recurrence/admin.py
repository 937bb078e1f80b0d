"""Staff views of recurrence: the series on a task's page, a filter for tasks whose stored rule
no longer parses (a rule stored before the accepted subset narrowed, or written by hand), and a
read-only series list. Completing such a task still succeeds; its series stops as `broken` with
the reason shown."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html

from tasks.recurrence import rules
from tasks.recurrence.models import RecurrenceSeries, SeriesState, TaskOccurrence
from tasks.recurrence.text import describe


def unparsable_rules() -> list[str]:
    """The distinct stored rules that no longer parse (each checked once)."""
    bad = []
    for rule in RecurrenceSeries.objects.values_list("rule", flat=True).distinct():
        try:
            describe(rules.normalize(rule))
            rules.build(rules.normalize(rule), rules.from_text("2026-01-01T09:00:00"), "UTC")
        except (rules.RuleError, ValueError, KeyError, IndexError):
            bad.append(rule)
    return bad


class BrokenRuleFilter(admin.SimpleListFilter):
    title = "recurrence rule"
    parameter_name = "rule_broken"

    def lookups(self, request, model_admin):
        return (("yes", "No longer parses"), ("repeating", "Repeating"))

    def queryset(self, request, queryset):
        broken = Q(state=SeriesState.BROKEN) | Q(rule__in=unparsable_rules())
        prefix = "occurrence__series__" if queryset.model is not RecurrenceSeries else ""
        if self.value() == "yes":
            series = RecurrenceSeries.objects.filter(broken).values("pk")
            return queryset.filter(**{f"{prefix}pk__in" if prefix else "pk__in": series})
        if self.value() == "repeating" and prefix:
            return queryset.filter(occurrence__isnull=False)
        return queryset


def series_summary(task) -> str:
    """The task's place in its series, for the task page."""
    occurrence = TaskOccurrence.objects.select_related("series").filter(task_id=task.pk).first()
    if occurrence is None:
        return "-"
    series = occurrence.series
    try:
        text = describe(series.rule, series.anchor)
    except (rules.RuleError, ValueError, KeyError, IndexError):
        text = "(the rule no longer parses)"
    return format_html(
        "<a href='/admin/tasks/recurrenceseries/{}/change/'>{}</a>: {} ({}, anchor {}, zone {})<br>"
        "occurrence #{} (slot {}, {} passed over before it, outcome {})<br>state {}{}; streak {} (longest {})",
        series.pk, series.pk, text, series.rule, series.anchor, series.timezone,
        occurrence.index, occurrence.slot_local, occurrence.skipped_before, occurrence.outcome or "open",
        series.state, f": {series.stop_reason}" if series.stop_reason else "", series.streak_current,
        series.streak_longest,
    )


@admin.register(RecurrenceSeries)
class RecurrenceSeriesAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "rule", "anchor", "timezone", "state", "streak_current", "streak_longest",
                    "created_at")
    list_filter = ("state", "anchor", BrokenRuleFilter)
    search_fields = ("=id", "user__email", "rule")
    list_select_related = ("user",)
    show_full_result_count = False
    readonly_fields = [f.name for f in RecurrenceSeries._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
