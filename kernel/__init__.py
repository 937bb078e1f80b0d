"""The shared kernel, the bottom layer every app builds on: domain events, jobs (queued by name,
with an outbox), outbound HTTP, Redis, tracing, ids, idempotency, the API conventions (api/),
health, metrics, logging, middleware, roles and the admin site's registries. It imports no app
and not the project shell. Its Django app keeps the label `deepiri` (kernel/apps.py), so its
tables and migration history are the ones the project always had."""
