"""A fast path of the envelope renderer for task lists.

`GET /api/tasks` builds its rows directly in wire shape (`tasks.serializers.row_to_dict`) and
marks them `WireRows`; this renderer then encodes them as they are instead of walking every
key again to camelize it. Everything else (the envelope, `pagination`, errors, any other
payload) goes through `EnvelopeJSONRenderer` unchanged, so the bytes are the same either way.
"""

from __future__ import annotations

from kernel.api.casing import camelize
from kernel.api.renderers import EnvelopeJSONRenderer, dumps


class WireRows(list):
    """Rows whose keys are already in wire (camelCase) form."""


class TaskListRenderer(EnvelopeJSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if (
            isinstance(data, dict)
            and isinstance(data.get("data"), WireRows)
            and (response is None or response.status_code < 400)
        ):
            envelope = camelize({k: v for k, v in data.items() if k != "data"})
            envelope["data"] = data["data"]
            return dumps(envelope)
        return super().render(data, accepted_media_type, renderer_context)
