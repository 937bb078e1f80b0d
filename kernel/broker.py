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

An acknowledgement the broker does not answer (Redis hung, the ack's socket timing out) used to
stop the worker consuming for good. kombu's Redis `QoS.ack` removes the message from Redis' unacked
index first and only then forgets the delivery locally; when the removal raises, the delivery
stays counted against the prefetch limit forever, and Celery only logs "Couldn't ack" (the
connection error is swallowed, so nothing reconnects and no fresh channel replaces the stale
count). With the prefetch of a worker (concurrency x 1) used up by such ghosts, `can_consume()`
stays false and no BRPOP is ever sent again, while the worker looks healthy. Here the delivery is
always forgotten locally, and the removal that failed is retried with the next ack and before
every visibility sweep, so the message is neither lost nor (usually) delivered twice; a job that
does come back after `visibility_timeout` runs once anyway (its outbox row is gone).

Selected by `CELERY_BROKER_TRANSPORT` when the broker is Redis.
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger("kombu.transport.redis")


class QoS(kombu_redis.QoS):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # delivery tags acknowledged here whose removal from the unacked index Redis did not confirm
        self._unconfirmed: set[str] = set()

    def _remove_all(self, tags) -> None:
        with self.pipe_or_acquire() as pipe:
            for tag in tags:
                self._remove_from_indices(tag, pipe)
            pipe.execute()

    def confirm_pending(self) -> None:
        """Remove the acknowledged messages Redis missed; raises the connection error when it
        still does not answer."""
        if self._unconfirmed:
            tags = set(self._unconfirmed)
            self._remove_all(tags)
            self._unconfirmed -= tags

    def ack(self, delivery_tag):
        tags = {*self._unconfirmed, delivery_tag}
        try:
            self._remove_all(tags)
        except self.channel.connection_errors as exc:
            self._unconfirmed.add(delivery_tag)
            logger.warning("ack of %s not confirmed by the broker (%r); retried with the next ack",
                           delivery_tag, exc)
        else:
            self._unconfirmed -= tags
        finally:
            virtual.QoS.ack(self, delivery_tag)  # the prefetch slot is free whatever Redis said

    def reject(self, delivery_tag, requeue=False):
        try:
            super().reject(delivery_tag, requeue=requeue)
        except self.channel.connection_errors:
            # The message stays in the unacked index and comes back after visibility_timeout
            # (what a requeue wanted; a plain reject's job runs once thanks to its outbox row).
            virtual.QoS.ack(self, delivery_tag)
            raise

    def restore_visible(self, start=0, num=10, interval=10):
        # an acknowledged message must be out of the index before the sweep could restore it
        self.confirm_pending()
        return super().restore_visible(start=start, num=num, interval=interval)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous=False):
        if getattr(self.connection, "client", None) is None:
            raise RedisConnectionError("the broker connection was already torn down")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
