"""The Celery broker transport: kombu's Redis transport, made to survive losing Redis mid-job.

Celery 5.7.0 tears a broken broker connection down twice when it reconnects
(`Consumer.on_connection_error_after_connected`: `connection.collect()`, then
`connection.close()`). `collect()` detaches the transport from its `Connection`
(`transport.client = None`) but leaves the default channel open when its first close was cut
short by the dead socket; the second close then asks the channel to restore its unacknowledged
messages, which builds a new Redis pool from `transport.client` and dies with
`AttributeError: 'NoneType' object has no attribute 'hostname'`. That error is not a connection
error, so nothing catches it and the worker exits ("Unrecoverable error") instead of
reconnecting; it happens whenever an `acks_late` job is running when Redis goes away. (An old
kombu failure, restoring unacked messages after the connection was released, brought back by
celery's newer double teardown; drop this once a release tears down once.)

Here a detached channel answers with the connection error it really is, so the teardown goes
on and the consumer reconnects. The messages it could not restore are still in Redis' unacked
hash (when Redis kept its data) and come back through `visibility_timeout`; when Redis lost its
data, the periodic sweeps re-enqueue what matters (challenges still generating, tasks without
understanding).

Selected by `CELERY_BROKER_TRANSPORT` when the broker is Redis.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if getattr(self.connection, "client", None) is None:
            raise RedisConnectionError("the broker connection was already torn down")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
