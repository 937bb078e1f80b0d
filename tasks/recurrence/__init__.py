"""Recurring tasks: a series (an RFC 5545 RRULE, an anchor, the user's zone when the rule was
set) and one task row per occurrence.

    rules.py        the allowed RRULE subset, parsing (dateutil), expansion in local wall time
    text.py         a rule as a human sentence
    models.py       RecurrenceSeries, TaskOccurrence (tasks app label; imported by tasks.models)
    services.py     set or stop a rule, the next occurrence on completion, skip, reopen
    wire.py         the recurrence fields of a task's wire shape
    serializers.py  input of `recurrence` and of the preview
    views.py        preview and skip
"""
