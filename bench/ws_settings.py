"""Settings for bench/ws_broadcast.py: production settings, with the channel layer chosen by
BENCH_CHANNEL_LAYER (core | pubsub | memory) while everything else (Redis for the event ids and
connection tracking, PostgreSQL) stays the same, so only the layer differs between runs."""

import os

from deepiri.settings import *  # noqa: F403
from deepiri.settings import REDIS_KEY_PREFIX, REDIS_URL

_layer = os.environ.get("BENCH_CHANNEL_LAYER", "core")
if _layer == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1500}}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": {
                "core": "channels_redis.core.RedisChannelLayer",
                "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
            }[_layer],
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi", "capacity": 1500},
        }
    }
