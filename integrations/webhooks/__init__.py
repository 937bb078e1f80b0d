"""Outgoing webhooks: endpoints users set up, signed deliveries of their events (see services)."""
