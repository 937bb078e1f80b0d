"""Incremental sync for offline-first clients (`GET /api/sync`): every change to a user's tasks,
challenges, notifications and profile since a cursor, deletions as tombstones.

It lives in integrations because it reads four apps (tasks, challenges, notifications, accounts)
and only the top layer may read all of them; analytics is a peer that owns derived figures, not
the user's objects, and a new top-level app would be a new layer for one endpoint.
"""
