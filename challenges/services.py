"""Every state change of a challenge.

    request_generation(user, task, type=None, difficulty=None) -> Challenge   (status generating;
        the `challenges.run_generation` job is queued after commit; nobody waits for it)
    run_generation(challenge_id, use_ai=True) -> Challenge | None            (the worker's job;
        idempotent per challenge; AI service, else the rule-based fallback; the owner is told
        through the `challenge-generated` socket event and a notification)
    start_challenge / take_hint / complete_challenge                         (the lifecycle)
    expire_overdue(now=None) -> int                                          (the beat job)
    understand_task(task_id) -> Task | None                                  (a created task's
        classification: AI service, else the rules; run by a worker after `task.created`)

Events (challenges/events.py): `ChallengeGenerated` when content is ready, `ChallengeCompleted`
once per challenge, for the other apps; this app's own follow-ups (the socket push, the
notification, finishing a multiplayer session) are direct calls after commit. Completing calls
gamification directly, in the same transaction, for the `Effects` the response shows.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from challenges import job_names, rules
from challenges.ai_client import AIClient, AIServiceError
from challenges.events import ChallengeCompleted, ChallengeGenerated
from challenges.models import Challenge, ChallengeStatus, Difficulty
from challenges.serializers import challenge_to_dict
from challenges.sessions import services as sessions
from challenges.types import Classification, GeneratedChallenge, TaskSpec
from gamification import services as gamification
from kernel import events, jobs, tracing
from kernel.api.exceptions import Conflict
from kernel.commit import after_commit
from kernel.redis import get_redis
from kernel.redis import key as redis_key
from notifications import services as notifications
from realtime import publisher
from tasks import selectors as task_selectors
from tasks import services as task_services

logger = logging.getLogger(__name__)

PLAYABLE_STATES = (ChallengeStatus.PENDING, ChallengeStatus.ACTIVE)


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


LIVE_STATES = (ChallengeStatus.GENERATING, *PLAYABLE_STATES)


def request_generation(
    user, task, type: str | None = None, difficulty: str | None = None, *, another: bool = False  # noqa: A002
) -> Challenge:
    """Create the challenge in `generating`; a worker generates it after commit. The caller
    answers at once: the owner learns the result from the `challenge-generated` socket event (or
    by reading the challenge again).

    At most one live (generating, pending or active) challenge per task: unless `another`,
    the live one is returned and nothing is generated. The task's row lock makes concurrent
    requests queue up, so they all get the same challenge. A completed or cancelled task gets
    none (409); a deleted one is a 404."""
    with transaction.atomic():
        locked = task_selectors.get_task_for_user(user, task.pk, for_update=True)  # 404 when deleted
        if _task_closed(locked):
            raise Conflict(f"Cannot generate a challenge for a task that is {locked.status}.")
        if not another:
            live = Challenge.objects.filter(task=locked, user=user, status__in=LIVE_STATES).order_by("-created_at").first()
            if live is not None:
                return live
        spec = TaskSpec.from_task(locked)
        challenge = Challenge.objects.create(
            user=user,
            task=locked,
            type=type or rules.challenge_type_for(spec),
            title=f"Challenge: {locked.title}"[:200],
            difficulty=difficulty if difficulty and difficulty != Difficulty.ADAPTIVE else Difficulty.MEDIUM,
            status=ChallengeStatus.GENERATING,
            requested_type=type or "",
            requested_difficulty=difficulty or "",
        )
        queue_generation(challenge.pk)
    return challenge


def queue_generation(challenge_id: str) -> None:
    """In the request's transaction: the generation job's outbox row is written with the
    challenge and handed to a worker once it commits, so a process dying after COMMIT does not
    leave it `generating`. A job the broker refuses is not left waiting: the challenge must not
    stay `generating` until the broker is back, so the local generator fills it then (it makes
    no outbound call). With eager Celery (no broker) the job runs inline after commit."""
    jobs.outbox(
        job_names.RUN_GENERATION, [challenge_id],
        on_refused=functools.partial(run_generation, challenge_id, use_ai=False, reason="broker_unavailable"),
    )


def produce_content(
    spec: TaskSpec,
    *,
    challenge_type: str = "",
    difficulty: str = "",
    classification: Classification | None = None,
    use_ai: bool = True,
    reason: str = "",
) -> GeneratedChallenge:
    """The AI service's challenge, reconciled with what the user asked for, or the fallback's."""
    with tracing.span("challenge.generate", **{"challenge.requested_type": challenge_type or None}):
        if use_ai:
            client = AIClient()
            try:
                with tracing.span("challenge.generate.ai"):
                    generated = client.request_challenge(spec)
            except AIServiceError as exc:
                reason = exc.reason
                if exc.reason != "not_configured":
                    logger.warning("challenge generation falls back: %s", exc)
            else:
                tracing.set_attributes(**{"challenge.source": "ai"})
                return _reconcile(generated, spec, challenge_type, difficulty)
        tracing.set_attributes(**{"challenge.source": "fallback", "challenge.fallback_reason": reason or None})
        with tracing.span("challenge.generate.fallback", **{"challenge.fallback_reason": reason or None}):
            result = rules.build_challenge(
                spec, challenge_type=challenge_type or None, difficulty=difficulty or None, classification=classification
            )
        result.fallback_reason = reason
        return result


def _reconcile(ai: GeneratedChallenge, spec: TaskSpec, challenge_type: str, difficulty: str) -> GeneratedChallenge:
    """The user's choice of type and difficulty wins over the service's; whatever a type needs
    to be playable and the service left out (questions, hints, code) comes from the rules."""
    by_rules = rules.build_challenge(
        spec,
        challenge_type=challenge_type or ai.type,
        difficulty=difficulty if difficulty and difficulty != Difficulty.ADAPTIVE else ai.difficulty,
        classification=ai.classification,
    )
    if challenge_type and challenge_type != ai.type:
        ai.type = challenge_type
    if difficulty and difficulty != Difficulty.ADAPTIVE and difficulty != ai.difficulty:
        ai.difficulty, ai.difficulty_score, ai.points_reward = difficulty, by_rules.difficulty_score, by_rules.points_reward
    for name, value in by_rules.configuration.items():
        if not ai.configuration.get(name) and value:
            ai.configuration[name] = value
    if ai.type in ("quiz", "puzzle", "multiplayer") and not ai.configuration.get("questions"):
        ai.configuration["questions"] = by_rules.configuration["questions"]
    ai.description = ai.description or by_rules.description
    return ai


def _apply(challenge: Challenge, content: GeneratedChallenge) -> None:
    challenge.type = content.type
    challenge.title = content.title[:200]
    challenge.description = content.description[:2000]
    challenge.difficulty = content.difficulty
    challenge.difficulty_score = content.difficulty_score
    challenge.points_reward = content.points_reward
    challenge.configuration = content.configuration
    challenge.ai_source = content.source
    challenge.ai_model = content.model[:100]
    challenge.ai_generation_time = content.generation_time
    challenge.ai_request_id = content.request_id[:64]
    challenge.fallback_reason = content.fallback_reason[:100]
    challenge.generated_at = timezone.now()
    challenge.status = ChallengeStatus.PENDING


def run_generation(challenge_id: str, *, use_ai: bool = True, reason: str = "") -> Challenge | None:
    """Fill a `generating` challenge. Safe to run twice (a redelivered job, the stale sweep):
    only the first to finish writes; later runs return the challenge as it is. The AI call
    happens outside any transaction or row lock."""
    challenge = Challenge.objects.select_related("task").filter(pk=challenge_id).first()
    if challenge is None or challenge.status != ChallengeStatus.GENERATING:
        return challenge
    task = challenge.task
    if _task_closed(task):
        return _abandon(challenge_id)
    classification = None
    if task.classification:
        try:
            classification = Classification(**task.classification)
        except TypeError:
            classification = None
    content = produce_content(
        TaskSpec.from_task(task),
        challenge_type=challenge.requested_type,
        difficulty=challenge.requested_difficulty,
        classification=classification,
        use_ai=use_ai,
        reason=reason,
    )
    with transaction.atomic():
        locked = (
            Challenge.objects.select_for_update(of=("self",)).select_related("user", "task").filter(pk=challenge_id).first()
        )
        if locked is None or locked.status != ChallengeStatus.GENERATING:
            return locked
        if _task_closed(locked.task):  # completed while the content was being made
            locked.status = ChallengeStatus.FAILED
            locked.fallback_reason = "task_closed"
            locked.save(update_fields=["status", "fallback_reason", "updated_at"])
            return locked
        _apply(locked, content)
        locked.save()
        events.emit(ChallengeGenerated(user=locked.user, challenge=locked))
        after_commit(announce_generated, locked)
    return locked


def announce_generated(challenge: Challenge) -> None:
    """Tell the owner their challenge is ready: the `challenge-generated` socket event (what a
    client that got 202 waits for) and a stored notification."""
    user = challenge.user
    publisher.send_to_user_now(str(user.pk), "challenge-generated", {"challenge": challenge_to_dict(challenge)})
    notifications.notify(
        user,
        notifications.NotificationType.CHALLENGE_GENERATED,
        f"New challenge ready: {challenge.title}"[:200],
        "Your challenge is ready. Start it when you are.",
        data={
            "challenge_id": str(challenge.pk),
            "task_id": str(challenge.task_id) if challenge.task_id else None,
            "type": challenge.type or None,
            "difficulty": challenge.difficulty or None,
        },
        priority=notifications.Priority.MEDIUM,
        dedupe_key=f"challenge:{challenge.pk}",
    )


CLOSED_TASK_STATES = ("completed", "cancelled")


def _task_closed(task) -> bool:
    return task.status in CLOSED_TASK_STATES


def _abandon(challenge_id: str) -> Challenge | None:
    """A generation whose task was completed or cancelled meanwhile: no content, no event."""
    with transaction.atomic():
        locked = Challenge.objects.select_for_update().filter(pk=challenge_id).first()
        if locked is not None and locked.status == ChallengeStatus.GENERATING:
            locked.status = ChallengeStatus.FAILED
            locked.fallback_reason = "task_closed"
            locked.save(update_fields=["status", "fallback_reason", "updated_at"])
    return locked


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


@dataclass
class ChallengeCompletion:
    challenge: Challenge
    effects: gamification.Effects
    completed_now: bool


def _lock(user, challenge: Challenge) -> Challenge:
    return Challenge.objects.select_for_update().select_related("task").get(pk=challenge.pk, user=user)


def _overdue(challenge: Challenge, now) -> bool:
    return (
        challenge.status in PLAYABLE_STATES and challenge.expires_at is not None and challenge.expires_at <= now
    )


def _expire(challenge: Challenge) -> None:
    challenge.status = ChallengeStatus.EXPIRED
    challenge.save(update_fields=["status", "updated_at"])


def _state_conflict(challenge: Challenge, action: str) -> Conflict:
    return Conflict(f"Cannot {action} a challenge that is {challenge.status}.")


def start_challenge(user, challenge: Challenge) -> Challenge:
    """pending -> active: `startedAt` now, `expiresAt` from the time limit. Starting an active
    challenge again returns it unchanged."""
    now = timezone.now()
    expired = False
    with transaction.atomic():
        locked = _lock(user, challenge)
        if locked.status == ChallengeStatus.ACTIVE and not _overdue(locked, now):
            return locked
        if _overdue(locked, now):
            _expire(locked)
            expired = True
        elif locked.status != ChallengeStatus.PENDING:
            raise _state_conflict(locked, "start")
        else:
            locked.status = ChallengeStatus.ACTIVE
            locked.started_at = now
            limit = locked.time_limit
            locked.expires_at = now + timedelta(minutes=limit) if limit else None
            locked.save(update_fields=["status", "started_at", "expires_at", "updated_at"])
    if expired:
        raise Conflict("This challenge has expired.")
    return locked


def take_hint(user, challenge: Challenge) -> dict:
    """The next unused hint; counts toward `hintsUsed`. 409 when none are left, or when the
    challenge is not being played (an expired one is marked so)."""
    now = timezone.now()
    expired = False
    with transaction.atomic():
        locked = _lock(user, challenge)
        if _overdue(locked, now):
            _expire(locked)
            expired = True
        else:
            if locked.status not in PLAYABLE_STATES:
                raise _state_conflict(locked, "take a hint for")
            hints = locked.hints
            if locked.hints_used >= len(hints):
                raise Conflict("No hints left for this challenge.")
            hint = hints[locked.hints_used]
            locked.hints_used += 1
            locked.save(update_fields=["hints_used", "updated_at"])
    if expired:
        raise Conflict("This challenge has expired.")
    return {
        "challenge_id": locked.pk,
        "hint": hint,
        "hints_used": locked.hints_used,
        "hints_remaining": len(hints) - locked.hints_used,
    }


def complete_challenge(
    user,
    challenge: Challenge,
    *,
    completion_time: int | None = None,
    score: int | None = None,
    accuracy: int | None = None,
    attempts_used: int | None = None,
    hints_used: int | None = None,
) -> ChallengeCompletion:
    """Complete once, only from pending/active and before `expiresAt`. A repeat returns the
    completed challenge with zero effects. After expiry: marked expired, then 409."""
    now = timezone.now()
    expired = False
    with transaction.atomic():
        locked = _lock(user, challenge)
        if locked.status == ChallengeStatus.COMPLETED:
            return ChallengeCompletion(locked, gamification.Effects.none(), False)
        if _overdue(locked, now):
            _expire(locked)
            expired = True
        else:
            if locked.status not in PLAYABLE_STATES:
                raise _state_conflict(locked, "complete")
            if completion_time is None and locked.started_at is not None:
                completion_time = int((now - locked.started_at).total_seconds())
            attempts_limit = int(locked.configuration.get("attempts") or 0)
            locked.status = ChallengeStatus.COMPLETED
            locked.completed_at = now
            locked.completion_time = completion_time
            locked.score = score  # omitted stays unknown (None): gamification then pays full marks
            locked.accuracy = accuracy
            attempts = 1 if attempts_used is None else attempts_used
            locked.attempts_used = min(attempts, attempts_limit) if attempts_limit else attempts
            # the server counted the hints it gave; a client may report more (e.g. offline), never
            # more than exist
            locked.hints_used = max(locked.hints_used, min(hints_used or 0, len(locked.hints)))
            locked.save()
            events.emit(ChallengeCompleted(user=user, challenge=locked))
            # A session on this challenge is finished by this server-checked completion, never
            # by a socket message.
            after_commit(sessions.finish_on_completion, user, locked)
            return ChallengeCompletion(locked, gamification.record_challenge_completion(user, locked), True)
    if expired:
        raise Conflict("This challenge has expired.")
    raise AssertionError("unreachable")


EXPIRABLE = (*PLAYABLE_STATES, ChallengeStatus.GENERATING)


def expire_challenge(challenge: Challenge) -> bool:
    """Staff action: expire one challenge under its row lock. False when it had already finished."""
    with transaction.atomic():
        locked = Challenge.objects.select_for_update().get(pk=challenge.pk)
        if locked.status not in EXPIRABLE:
            return False
        _expire(locked)
        return True


def expire_overdue(now=None) -> dict:
    """The beat job: active challenges past `expiresAt` become expired; challenges stuck in
    `generating` (a worker died, the broker lost the job) are finished with the fallback."""
    now = now or timezone.now()
    expired = Challenge.objects.filter(
        status__in=PLAYABLE_STATES, expires_at__isnull=False, expires_at__lte=now
    ).update(status=ChallengeStatus.EXPIRED, updated_at=now)
    requeued = requeue_stuck(now)
    stale_after = timedelta(seconds=settings.CHALLENGE_GENERATION_STALE_SECONDS)
    stale_ids = list(
        Challenge.objects.filter(status=ChallengeStatus.GENERATING, created_at__lte=now - stale_after)
        .order_by("created_at")
        .values_list("pk", flat=True)[:200]
    )
    for challenge_id in stale_ids:
        run_generation(challenge_id, use_ai=False, reason="stale")
    return {"expired": expired, "requeued": requeued, "regenerated": len(stale_ids)}


# ---------------------------------------------------------------------------------------------
# Task understanding
# ---------------------------------------------------------------------------------------------


def understand_task(task_id: str):
    """Classify a task (AI service, else the rule-based classifier) and store it on the task.
    Returns the task, or None when it is gone."""
    task = task_selectors.get_task(task_id)
    if task is None:
        return None
    try:
        classification = AIClient().classify_task(task.title, task.description)
    except AIServiceError as exc:
        logger.info("task understanding for %s uses the fallback: %s", task_id, exc.reason)
        classification = rules.classify_task(task.title, task.description, task.estimated_duration, task.priority)
    return task_services.set_classification(task_id, classification.as_dict())


def requeue_understanding(older_than_seconds: int = 120, limit: int = 500) -> int:
    """The beat job: tasks still without understanding (their job was lost: the broker dropped
    it, or it gave up) are handed to a worker again."""
    ids = task_selectors.unclassified_task_ids(older_than_seconds, limit)
    for task_id in ids:
        jobs.enqueue(job_names.UNDERSTAND_TASK, task_id)
    if ids:
        logger.info("re-enqueued understanding for %d task(s)", len(ids))
    return len(ids)


def requeue_stuck(now=None) -> int:
    """Challenges still generating well after their job should have finished (the broker lost
    it: Redis restarted empty) are handed to a worker again, at most once per interval each,
    so the AI still makes them; after CHALLENGE_GENERATION_STALE_SECONDS the fallback does."""
    now = now or timezone.now()
    after = timedelta(seconds=settings.CHALLENGE_GENERATION_REQUEUE_SECONDS)
    stale_after = timedelta(seconds=settings.CHALLENGE_GENERATION_STALE_SECONDS)
    ids = list(
        Challenge.objects.filter(
            status=ChallengeStatus.GENERATING, created_at__lte=now - after, created_at__gt=now - stale_after
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:200]
    )
    requeued = 0
    for challenge_id in ids:
        try:
            first = get_redis().set(redis_key("challenge", challenge_id, "requeued"), "1", nx=True,
                                    ex=int(after.total_seconds()))
        except Exception:  # noqa: BLE001 - without Redis there is no broker to requeue to either
            logger.warning("could not requeue challenge %s", challenge_id, exc_info=True)
            continue
        if first:
            jobs.enqueue(job_names.RUN_GENERATION, challenge_id)
            requeued += 1
    return requeued
