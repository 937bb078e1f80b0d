"""The WebSocket layer: socket auth, the `/ws/` consumer and its routes, presence, the one
publisher of socket events, and coalesced leaderboard pushes. Domain apps plug their rooms and
socket commands in through `realtime.registry`; nothing here knows about them."""
