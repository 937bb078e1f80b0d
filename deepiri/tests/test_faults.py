"""Fault injection on disposable dependencies: the production shape (daphne serving HTTP and
sockets, a prefork Celery worker) on a private redis-server, a private nx-27017 and the test's
own PostgreSQL database, under a live loop of signed-in users. One fault at a time.

Each test asserts: no 500 (503s are counted and reported), no request slower than BUDGET, and
afterwards zero drift (`rebuild_gamification --check`), no repeated socket event id, no task
left without understanding, no challenge stuck generating. Every test prints one
`[fault:<name>]` line (statuses, slowest request, recovery time, drift); FAULT_REPORT=<file>
collects them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from accounts.tokens import issue_pair
from challenges.models import Challenge, ChallengeStatus
from challenges.tests.fake_cyrex import FakeCyrex
from devtools.testing.faults import (
    ClientLoop,
    FaultStack,
    NxServer,
    SocketWatcher,
    database_unreachable,
    report,
    wait_until,
)
from tasks.models import Task

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BUDGET = 5.0  # seconds: the longest any request may take while a dependency is down
AI = {"AI_SERVICE_API_KEY": "test-key", "AI_SERVICE_MAX_RETRIES": "0", "AI_SERVICE_READ_TIMEOUT": "30",
      "AI_SERVICE_TOTAL_TIMEOUT": "40", "CHALLENGE_GENERATION_REQUEUE_SECONDS": "1"}


@pytest.fixture
def cyrex():
    with FakeCyrex(api_key="test-key") as server:
        yield server


@pytest.fixture
def stack_factory():
    stacks = []

    def make(**env):
        stack = FaultStack(env).start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def people(make_user):
    users = [make_user(name=f"Player {i}") for i in range(3)]
    return users, [issue_pair(u)["token"] for u in users]


def assert_no_500_within_budget(loop: ClientLoop):
    statuses = loop.statuses()
    assert statuses.get(500, 0) == 0, statuses
    assert not [a for a in loop.answers if a.status >= 500 and a.status != 503], statuses
    slowest = loop.slowest()
    assert slowest is not None and slowest.seconds <= BUDGET, (slowest, statuses)
    assert sum(n for s, n in statuses.items() if 200 <= s < 300) > 0


def post(stack, token, path, body=None):
    return requests.post(stack.url + path, json=body or {}, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def heal_and_settle(stack, tokens, timeout=90.0):
    """What beat and the next readers do after a fault; returns when nothing is left undone."""
    stack.beat_tick()
    wait_until(
        lambda: requests.get(stack.url + "/api/gamification/leaderboard?period=all",
                             headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=10).status_code == 200,
        timeout, what="the leaderboards to be rebuilt",
    )

    def settled():
        if Challenge.objects.filter(status=ChallengeStatus.GENERATING).exists():
            stack.beat_tick()
            return False
        if Task.objects.filter(classification={}).exists():
            stack.beat_tick()
            return False
        return True

    wait_until(settled, timeout, interval=2.0, what="every task understood and every challenge generated")


def notification_ids(stack, token) -> list[tuple[str, int | None]]:
    body = requests.get(stack.url + "/api/notifications?limit=100", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).json()
    return [(n["createdAt"], n.get("eventId")) for n in body["data"]]


def test_redis_killed_mid_job_and_restarted_empty(stack_factory, people, cyrex):
    users, tokens = people
    stack = stack_factory(AI_SERVICE_URL=cyrex.url, **AI)
    loop = ClientLoop(stack.url, tokens).start()
    sockets = SocketWatcher(stack.web, tokens).start()
    time.sleep(3)
    # a generation in flight in a worker process when Redis dies (an acks_late job)
    task = post(stack, tokens[0], "/api/tasks", {"title": "Implement the retry loop"}).json()["data"]
    cyrex.set(mode="slow", delay=4)
    assert post(stack, tokens[0], "/api/challenges/generate", {"taskId": task["id"]}).status_code == 202
    wait_until(lambda: cyrex.count("challenge/generate"), 20, what="the worker to call the AI service")
    before_kill = datetime.now(UTC)
    stack.redis.kill()
    killed = time.monotonic()
    time.sleep(6)
    cyrex.set(mode="ok")
    stack.redis.restart()  # empty: boards, sequences, queues and locks are gone
    up = time.monotonic()
    after_up = datetime.now(UTC)
    time.sleep(6)
    loop.stop()
    assert stack.worker.alive, "the worker exited when Redis went away:\n" + "\n".join(stack.worker.lines[-30:])
    # a notification made after the restart gets an id above every one made before the loss
    task2 = post(stack, tokens[0], "/api/tasks", {"title": "Write the summary"}).json()["data"]
    assert post(stack, tokens[0], "/api/challenges/generate", {"taskId": task2["id"]}).status_code in (201, 202)
    heal_and_settle(stack, tokens)
    time.sleep(1)
    sockets.stop()

    assert_no_500_within_budget(loop)
    drift = stack.drift()
    assert drift == []
    assert sockets.regressions() == 0, sockets.ids
    for token in tokens:
        ids = notification_ids(stack, token)
        pushed = [i for _, i in ids if i is not None]
        assert len(pushed) == len(set(pushed)), ids
        old = [i for at, i in ids if i is not None and at < before_kill.isoformat().replace("+00:00", "Z")]
        new = [i for at, i in ids if i is not None and at > after_up.isoformat().replace("+00:00", "Z")]
        if old and new:
            assert min(new) > max(old), ids
    recovery = loop.first_success_after(up, "create")
    report("redis", loop, recovery, drift,
           f"outage={up - killed:.1f}s sockets_reconnected={sockets.connects} worker_alive={stack.worker.alive}")


def test_worker_sigkilled_mid_job_is_redelivered(stack_factory, people, cyrex):
    users, tokens = people
    stack = stack_factory(AI_SERVICE_URL=cyrex.url, CELERY_VISIBILITY_TIMEOUT="5", **AI)
    loop = ClientLoop(stack.url, tokens).start()
    task = post(stack, tokens[1], "/api/tasks", {"title": "Implement the parser"}).json()["data"]
    wait_until(lambda: not Task.objects.filter(classification={}).exists(), 30, what="understanding")
    # Only generation hangs: the client loop keeps creating tasks, and classifications that hung
    # too would hold both worker processes, so the generation job would wait behind them.
    cyrex.set(mode="slow", delay=60, mode_paths="challenge/generate")
    generating = post(stack, tokens[1], "/api/challenges/generate", {"taskId": task["id"]}).json()["data"]
    wait_until(lambda: cyrex.count("challenge/generate"), 20, what="the worker to call the AI service")
    stack.worker.kill()
    killed = time.monotonic()
    cyrex.set(mode="ok", mode_paths=None)
    stack.start_worker()
    challenge = wait_until(
        lambda: Challenge.objects.exclude(status=ChallengeStatus.GENERATING).filter(pk=generating["id"]).first(),
        60, what="the job to be redelivered to the new worker",
    )
    recovery = time.monotonic() - killed
    loop.stop()
    heal_and_settle(stack, tokens)

    assert challenge.ai_source == "ai"  # the AI's output, not the stale sweep's fallback
    assert cyrex.count("challenge/generate") >= 2
    assert_no_500_within_budget(loop)
    drift = stack.drift()
    assert drift == []
    report("worker-sigkill", loop, recovery, drift, "redelivered_after_visibility_timeout=5s")


def test_mongodb_down_does_not_slow_the_core_loop(stack_factory, people):
    users, tokens = people
    nx = NxServer().start()
    try:
        stack = stack_factory(MONGODB_URI=nx.uri, MONGODB_DB="faults")
        loop = ClientLoop(stack.url, tokens).start()
        time.sleep(3)
        nx.stop()
        down_at = datetime.now(UTC)
        stopped = time.monotonic()
        time.sleep(6)
        nx.start()  # empty (in-memory): only what was queued during the outage comes back
        up = time.monotonic()
        time.sleep(3)
        loop.stop()
        completed = Task.objects.filter(status="completed", completed_at__gte=down_at, completed_at__lt=datetime.now(UTC))
        expected = completed.count()
        from pymongo import MongoClient

        with MongoClient(nx.uri, serverSelectionTimeoutMS=2000) as client:
            events = client["faults"]["events"]
            wait_until(lambda: events.count_documents({"type": "task.completed"}) >= expected, 120,
                       interval=1.0, what="the worker to fold the events queued during the outage")
        heal_and_settle(stack, tokens)

        outage = [a for a in loop.answers if stopped <= a.started < up and a.what in ("create", "complete")]
        assert outage, "no create/complete ran during the outage"
        assert_no_500_within_budget(loop)
        assert max(a.seconds for a in outage) <= 2.0  # analytics never touches the request
        drift = stack.drift()
        assert drift == []
        report("mongodb", loop, loop.first_success_after(up), drift,
               f"completions_during_outage={len([a for a in outage if a.what == 'complete'])} folded_after={expected}")
    finally:
        nx.close()


def test_postgres_unreachable(stack_factory, people):
    users, tokens = people
    stack = stack_factory()
    loop = ClientLoop(stack.url, tokens).start()
    time.sleep(3)
    with database_unreachable():
        down = time.monotonic()
        time.sleep(5)
    up = time.monotonic()
    time.sleep(4)
    loop.stop()
    heal_and_settle(stack, tokens)

    during = loop.statuses(since=down)
    assert during.get(503, 0) > 0  # the outage was seen, and answered as one
    assert_no_500_within_budget(loop)
    drift = stack.drift()
    assert drift == []
    report("postgres", loop, loop.first_success_after(up, "create"), drift, f"outage={up - down:.1f}s")


def test_daphne_sigkilled_with_sockets_open(stack_factory, people):
    users, tokens = people
    stack = stack_factory()
    sockets = SocketWatcher(stack.web, tokens).start()
    wait_until(lambda: sockets.connects >= len(tokens), 20, what="every socket to connect")
    loop = ClientLoop(stack.url, tokens).start()
    time.sleep(3)
    stack.web.stop(kill=True)
    killed = time.monotonic()
    time.sleep(1)
    stack.web.start()
    up = time.monotonic()
    wait_until(lambda: sockets.connects >= 2 * len(tokens), 30, what="every socket to reconnect")
    reconnected = time.monotonic() - up
    time.sleep(3)
    loop.stop()
    heal_and_settle(stack, tokens)
    sockets.stop()

    # while daphne was down requests found nobody listening (status 0): no 500, no slow answer
    assert_no_500_within_budget(loop)
    assert sockets.regressions() == 0, sockets.ids
    for token in tokens:
        pushed = [i for _, i in notification_ids(stack, token) if i is not None]
        assert len(pushed) == len(set(pushed))
    drift = stack.drift()
    assert drift == []
    report("daphne-sigkill", loop, loop.first_success_after(up), drift,
           f"down={up - killed:.1f}s sockets_back_in={reconnected:.1f}s")


# ------------------------------------------------------------------------------ hung, not dead
# A hung dependency (SIGSTOP: connections stay open, nothing answers) must cost what a dead one
# does. Each freeze test times OTHER users' plain reads during the fault, not only the requests
# that need the frozen dependency: queueing behind a stalled request is what users feel.
FROZEN_BUDGET = 3.0  # seconds: any request while a dependency is frozen


class Reader:
    """A user who only reads their task list, every answer timed (needs no Redis, no MongoDB,
    no AI: only authentication)."""

    def __init__(self, base_url: str, token: str, path: str = "/api/tasks?limit=5"):
        self.loop = ClientLoop(base_url, [token])
        self.path = path
        self._thread = None

    def _run(self):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.loop.tokens[0]}"
        while not self.loop._stop.is_set():
            self.loop._call(session, "GET", self.path, "read")
            time.sleep(0.1)

    def start(self):
        import threading

        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.loop._stop.set()
        self._thread.join(20)

    def during(self, start: float, end: float):
        return [a for a in self.loop.answers if start <= a.started < end]


def test_redis_frozen_costs_other_users_no_more_than_a_dead_one(stack_factory, people, make_user):
    users, tokens = people
    reader_token = issue_pair(make_user(name="Reader"))["token"]
    stack = stack_factory()
    loop = ClientLoop(stack.url, tokens).start()
    reader = Reader(stack.url, reader_token).start()
    time.sleep(3)
    stack.redis.freeze()
    frozen = time.monotonic()
    time.sleep(10)
    stack.redis.thaw()
    thawed = time.monotonic()
    time.sleep(6)
    loop.stop()
    reader.stop()

    reads = reader.during(frozen, thawed)
    assert len(reads) >= 5, reads  # the reader was served all along, not held by the fault
    assert all(a.status == 200 for a in reads), [(a.status, round(a.seconds, 2)) for a in reads]
    slowest_read = max(a.seconds for a in reads)
    assert slowest_read <= FROZEN_BUDGET, reads
    during = [a for a in loop.answers if frozen <= a.started < thawed]
    assert during and max(a.seconds for a in during) <= FROZEN_BUDGET, sorted(
        ((round(a.seconds, 2), a.what, a.status) for a in during), reverse=True)[:5]
    assert_no_500_within_budget(loop)
    # the worker consumes again after the thaw: acks Redis did not answer during the freeze no
    # longer hold its prefetch slots (kernel/broker.py)
    heal_and_settle(stack, tokens)
    drift = stack.drift()
    assert drift == []
    report("redis-frozen", loop, loop.first_success_after(thawed, "create"), drift,
           f"frozen={thawed - frozen:.1f}s reads_during={len(reads)} slowest_read={slowest_read:.2f}s")


def test_mongodb_frozen_costs_analytics_a_quick_503_and_nobody_else_anything(stack_factory, people, make_user):
    users, tokens = people
    reader_token = issue_pair(make_user(name="Reader"))["token"]
    nx = NxServer().start()
    try:
        stack = stack_factory(MONGODB_URI=nx.uri, MONGODB_DB="faults")  # production timeouts
        loop = ClientLoop(stack.url, tokens).start()
        reader = Reader(stack.url, reader_token).start()
        analytics = Reader(stack.url, tokens[0], path="/api/analytics").start()
        time.sleep(3)
        nx.freeze()
        frozen = time.monotonic()
        time.sleep(8)
        nx.thaw()
        thawed = time.monotonic()
        wait_until(lambda: requests.get(stack.url + "/api/analytics", timeout=10,
                                        headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 200,
                   60, what="analytics to answer again")
        loop.stop()
        reader.stop()
        analytics.stop()
        heal_and_settle(stack, tokens)

        reads = reader.during(frozen, thawed)
        assert len(reads) >= 5 and all(a.status == 200 for a in reads), reads
        assert max(a.seconds for a in reads) <= FROZEN_BUDGET, reads
        asked = analytics.during(frozen, thawed)
        assert {a.status for a in asked} <= {200, 503} and 503 in {a.status for a in asked}, asked
        assert max(a.seconds for a in asked) <= FROZEN_BUDGET, asked  # as fast as any other outage
        during = [a for a in loop.answers if frozen <= a.started < thawed]
        assert during and max(a.seconds for a in during) <= FROZEN_BUDGET
        assert_no_500_within_budget(loop)
        drift = stack.drift()
        assert drift == []
        report("mongodb-frozen", loop, loop.first_success_after(thawed), drift,
               f"frozen={thawed - frozen:.1f}s analytics_503={sum(a.status == 503 for a in asked)} "
               f"slowest_analytics={max(a.seconds for a in asked):.2f}s slowest_read={max(a.seconds for a in reads):.2f}s")
    finally:
        nx.close()


def test_a_hung_ai_service_reaches_the_fallback_after_two_calls(stack_factory, people, cyrex, make_user):
    """Production AI settings (8 s read timeout, breaker after 2 slow calls, no read-timeout
    retry): a generate against a hanging service falls back; after two calls nothing waits on it."""
    users, tokens = people
    reader_token = issue_pair(make_user(name="Reader"))["token"]
    stack = stack_factory(AI_SERVICE_URL=cyrex.url, AI_SERVICE_API_KEY="test-key")
    created = [post(stack, tokens[i % len(tokens)], "/api/tasks", {"title": f"Write part {i}"}).json()["data"]
               for i in range(6)]
    wait_until(lambda: not Task.objects.filter(classification={}).exists(), 30, what="understanding")
    reader = Reader(stack.url, reader_token).start()
    cyrex.set(mode="slow", delay=120)  # the service accepts connections and never answers
    hung = time.monotonic()
    ids = [post(stack, tokens[i % len(tokens)], "/api/challenges/generate", {"taskId": t["id"]}).json()["data"]["id"]
           for i, t in enumerate(created)]
    wait_until(lambda: not Challenge.objects.filter(pk__in=ids, status=ChallengeStatus.GENERATING).exists(), 90,
               interval=0.5, what="every generation to fall back")
    fallback_after = time.monotonic() - hung
    reader.stop()
    cyrex.set(mode="ok")

    assert set(Challenge.objects.filter(pk__in=ids).values_list("ai_source", flat=True)) == {"fallback"}
    calls = cyrex.count("challenge/generate")
    assert calls <= 2 + stack.concurrency - 1, calls  # the breaker opened after two slow calls
    assert max(a.seconds for a in reader.loop.answers) <= FROZEN_BUDGET
    report("ai-hung", reader.loop, None, [],
           f"generations={len(ids)} ai_calls={calls} all_fallen_back_after={fallback_after:.1f}s")
