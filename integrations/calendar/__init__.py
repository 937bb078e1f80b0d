"""Calendar subscriptions: a secret URL per feed that any calendar app polls for the user's tasks
with a due date, as iCalendar (RFC 5545). The model lives here and is imported into
integrations/models.py, so it keeps the `integrations` app label and migrations."""
