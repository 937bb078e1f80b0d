"""Completions -> effects: the `record_*` entry points the tasks, challenges and integrations
services call inside their transaction. Each stores the event's facts once (`Activity`), moves
stats and streaks, awards points by the rules and evaluates badges, and answers `Effects`."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gamification import rules
from gamification.effects import Effects
from gamification.models import Activity, GamificationProfile, LedgerEntry, UserBadge
from gamification.services.badges import badge_fields, evaluate_badges
from gamification.services.ledger import AwardResult, award, reverse
from gamification.services.profiles import lock_profile
from gamification.services.streaks import set_streaks, streaks_now


def _streak_effect(profile: GamificationProfile) -> dict:
    return {"daily": profile.daily_current, "weekly": profile.weekly_current}


def _effects(profile, results: list[AwardResult], badges: list[UserBadge], start_level: int) -> Effects:
    points = xp = 0
    breakdown: list[dict] = []
    badges_awarded: list[dict] = []
    for result in results:
        if result.created:
            points += result.entry.points
            xp += result.entry.xp
            breakdown.extend(result.entry.breakdown)
    for user_badge in badges:
        points += user_badge.ledger_entry.points
        xp += user_badge.ledger_entry.xp
        breakdown.append({"reason": f"badge:{user_badge.badge.slug}", "amount": user_badge.ledger_entry.points})
        badges_awarded.append({"_id": user_badge.badge.pk, **badge_fields(user_badge)})
    change = {"from": start_level, "to": profile.level}
    return Effects(
        points_awarded=points,
        xp_awarded=xp,
        breakdown=tuple(breakdown),
        badges_awarded=tuple(badges_awarded),
        streak=_streak_effect(profile),
        level_up=change if profile.level > start_level else None,
        level_down=change if profile.level < start_level else None,
    )


def _record_activity(user, *, kind, key, subject_id, facts, occurred_at) -> Activity | None:
    """Store an event's facts once; None when this exact event was already recorded."""
    if Activity.objects.filter(key=key).exists():
        return None
    return Activity.objects.create(
        user=user,
        kind=kind,
        key=key,
        subject_id=str(subject_id),
        facts={k: v for k, v in facts.items() if v is not None},
        occurred_at=occurred_at,
        local_date=rules.local_date(occurred_at, user.tzinfo),
    )


def completion_key(task_id, completed_at: datetime) -> str:
    """The idempotency key of one completion of a task (a reopen and a new completion get a new one)."""
    return f"task:{task_id}:completed:{completed_at.timestamp():.6f}"


def record_task_completion(
    user, task, *, completed_at: datetime, actual_duration=None, efficiency=None, series_streak: int | None = None
) -> Effects:
    """Award a completed task (once per completion): points by the rules, streaks, stats, badges.
    `series_streak` is the streak of a repeating task's series after this completion (recorded as
    a fact, for the series-streak badges); None for a task that does not keep one."""
    key = completion_key(task.pk, completed_at)
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        profile = lock_profile(user)
        start_level = profile.level
        tz = user.tzinfo
        local = completed_at.astimezone(tz)
        early = rules.finished_early(
            completed_at, getattr(task, "due_date", None), due_date_only=bool(getattr(task, "due_date_only", False)), tz=tz
        )
        efficiency = None if efficiency is None else float(efficiency)
        activity = _record_activity(
            user,
            kind="task.completed",
            key=key,
            subject_id=task.pk,
            occurred_at=completed_at,
            facts={
                "priority": getattr(task, "priority", None),
                "type": getattr(task, "type", None),
                "source": getattr(task, "source", None),
                "efficiency": efficiency,
                "early": early,
                "local_hour": local.hour,
                "weekday": local.isoweekday(),
                "actual_duration": actual_duration,
                # 0 rather than absent for a task without a series streak: a fact that is
                # absent leaves the series-streak badges to be counted in SQL on every completion.
                "series_streak": series_streak or 0,
            },
        )
        if activity is None:
            return Effects(streak=_streak_effect(profile))
        daily, weekly = streaks_now(user, now)
        set_streaks(user, profile, daily, weekly)
        profile.tasks_completed += 1
        profile.total_time_spent += int(actual_duration or 0)
        if efficiency is not None:
            profile.efficiency_sum += efficiency
            profile.efficiency_count += 1
        points = rules.task_points(
            getattr(task, "priority", "medium"), efficiency=efficiency, early=early, streak_days=daily.current
        )
        result = award(
            user,
            points=points.points,
            xp=points.xp,
            reason="task.completed",
            source="task",
            source_id=task.pk,
            idempotency_key=key,
            breakdown=points.breakdown_list(),
            occurred_at=completed_at if completed_at <= now else now,
            profile=profile,
        )
        badges = evaluate_badges(user, profile, recorded=activity)
        return _effects(profile, [result], badges, start_level)


def record_task_reopen(user, task, *, previous_completed_at: datetime | None = None) -> Effects:
    """Undo a task's completion award with a compensating entry; stats and streaks are
    recomputed without it. Badges already earned stay (staff can revoke). A task has at most
    one live completion, so every live one of it is reversed (`previous_completed_at` is
    informational)."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        profile = lock_profile(user)
        start_level = profile.level
        activities = Activity.objects.select_for_update().filter(
            user=user, kind="task.completed", subject_id=str(task.pk), reversed=False
        )
        activities = list(activities)
        if not activities:
            return Effects(streak=_streak_effect(profile))
        results = []
        for activity in activities:
            activity.reversed = True
            activity.save(update_fields=["reversed", "updated_at"])
            profile.tasks_completed = max(0, profile.tasks_completed - 1)
            profile.total_time_spent = max(0, profile.total_time_spent - int(activity.facts.get("actual_duration") or 0))
            if activity.facts.get("efficiency") is not None:
                profile.efficiency_sum -= float(activity.facts["efficiency"])
                profile.efficiency_count = max(0, profile.efficiency_count - 1)
                if profile.efficiency_count == 0:
                    profile.efficiency_sum = 0.0
            entry = LedgerEntry.objects.filter(idempotency_key=activity.key, reversal__isnull=True).first()
            if entry is not None:
                results.append(reverse(entry, reason="task.reopened", profile=profile))
        set_streaks(user, profile, *streaks_now(user, now))
        profile.save()
        return _effects(profile, results, [], start_level)


def _seconds(value) -> float | None:
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return float(value)


def record_challenge_completion(user, challenge) -> Effects:
    """Award a completed challenge once: pointsReward x bonusMultiplier adjusted by the rules."""
    key = f"challenge:{challenge.pk}:completed"
    now = timezone.now()
    completed_at = getattr(challenge, "completed_at", None) or now
    configuration = getattr(challenge, "configuration", None) or {}
    time_limit_minutes = configuration.get("timeLimit", configuration.get("time_limit"))
    time_limit = float(time_limit_minutes) * 60 if isinstance(time_limit_minutes, (int, float)) else None
    completion = _seconds(getattr(challenge, "completion_time", None))
    score, accuracy = getattr(challenge, "score", None), getattr(challenge, "accuracy", None)
    hints = int(getattr(challenge, "hints_used", 0) or 0)
    with transaction.atomic(savepoint=False):
        profile = lock_profile(user)
        start_level = profile.level
        activity = _record_activity(
            user,
            kind="challenge.completed",
            key=key,
            subject_id=challenge.pk,
            occurred_at=completed_at,
            facts={
                "type": getattr(challenge, "type", None),
                "difficulty": getattr(challenge, "difficulty", None),
                "score": score,
                "accuracy": accuracy,
                "hints_used": hints,
                "time_ratio": round(completion / time_limit, 4) if completion is not None and time_limit else None,
                "ai_source": getattr(challenge, "ai_source", None),
            },
        )
        if activity is None:
            return Effects(streak=_streak_effect(profile))
        profile.challenges_completed += 1
        points = rules.challenge_points(
            getattr(challenge, "points_reward", 100),
            getattr(challenge, "bonus_multiplier", 1.0),
            score=score,
            accuracy=accuracy,
            hints_used=hints,
            completion_seconds=completion,
            time_limit_seconds=time_limit,
        )
        result = award(
            user,
            points=points.points,
            xp=points.xp,
            reason="challenge.completed",
            source="challenge",
            source_id=challenge.pk,
            idempotency_key=key,
            breakdown=points.breakdown_list(),
            occurred_at=min(completed_at, now),
            profile=profile,
        )
        badges = evaluate_badges(user, profile, recorded=activity)
        return _effects(profile, [result], badges, start_level)


def record_integration_sync(user, *, run_id: str, provider: str, tasks_created: int = 0) -> list[UserBadge]:
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        profile = lock_profile(user)
        activity = _record_activity(
            user,
            kind="integration.synced",
            key=f"integration.synced:{run_id}",
            subject_id=run_id,
            occurred_at=now,
            facts={"provider": provider, "tasks_created": int(tasks_created or 0)},
        )
        if activity is None:
            return []
        return evaluate_badges(user, profile, recorded=activity)
