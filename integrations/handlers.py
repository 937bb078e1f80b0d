"""Integrations' wiring: what it plugs into the registries below it (`register()`, called from
IntegrationsConfig.ready()). A sync's own follow-ups (the user's notice, the count toward
badges) are direct calls after commit (integrations.services.notices), not events to itself.
"""

from __future__ import annotations

from accounts import admin as user_admin
from integrations import admin, export
from integrations.webhooks import reactions as webhook_reactions
from kernel import admin as deepiri_admin
from kernel import events, exports


def register() -> None:
    exports.register("integrations", export.export_user)
    deepiri_admin.register_figures(admin.failed_syncs)
    user_admin.register_user_panel("integration_status", "integrations", admin.status_html, section="Integrations")
    # Outgoing webhooks: in the emitter's transaction (no after_commit), so the payload is the
    # state that commits and the event exists exactly when the change does.
    for event_type, handler in webhook_reactions.SUBSCRIPTIONS.items():
        events.subscribe(event_type, handler)
