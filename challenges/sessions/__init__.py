"""Multiplayer challenge sessions: a host and invitees play one challenge together, live over
the socket (`session:<id>` rooms), with the result stored in SQL when it ends.

models (SQL rows, `challenges` app label), services (every state change), views + urls (REST),
socket (rooms and commands registered with realtime), tasks (the expiry beat job).
"""
