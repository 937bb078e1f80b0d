"""Every gamification state change: the ledger, totals, streaks, badges, preferences.

- `award()` is the only way points and XP move. It is idempotent on `idempotency_key`, locks
  the user's profile row, writes one immutable ledger row and updates the totals and level in
  the same transaction, emits `points.awarded` (and `level.up` on a level gain), and queues the
  leaderboard update for commit. `reverse()` compensates an entry with a negative one.
- `record_task_completion()` / `record_task_reopen()` / `record_challenge_completion()` are
  called by the tasks and challenges services inside their transaction; they return `Effects`.
- Badges are evaluated after every recorded event (`evaluate_badges`; event-count badges only
  when that event may count toward them), each paid through the ledger; staff revoke with
  `revoke_badge` (points reversed).
- Stored streaks catch up with the calendar (`catch_up_streaks`) on the user's next award and in
  the hourly beat job; reads only compute them as of today (selectors), never store.

Formulas live in `gamification.rules`; nothing here computes a number by itself.

The `record_*` entry points and `award()` join the caller's transaction without a
savepoint (`atomic(savepoint=False)`): an error inside propagates and rolls the caller back,
so a savepoint would only cost two round trips per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from gamification import leaderboards, notices, rules, selectors
from gamification.effects import Effects
from gamification.events import BadgeAwarded, LevelUp, PointsAwarded, StreakChanged
from gamification.models import Activity, Badge, GamificationProfile, LedgerEntry, UserBadge
from kernel import events, tracing
from kernel.api.times import iso_utc
from kernel.commit import after_commit

__all__ = ["Effects"]  # the answer of the record_* services, for their callers

SOURCES = ("task", "challenge", "badge", "reversal", "admin", "integration")


# ------------------------------------------------------------------------------------------------
# Profiles
# ------------------------------------------------------------------------------------------------
def get_or_create_profile(user) -> GamificationProfile:
    try:
        return GamificationProfile.objects.get(user=user)
    except GamificationProfile.DoesNotExist:
        try:
            with transaction.atomic():
                return GamificationProfile.objects.create(user=user)
        except IntegrityError:
            return GamificationProfile.objects.get(user=user)


def lock_profile(user) -> GamificationProfile:
    """The user's profile, row-locked for the current transaction (created on first use)."""
    try:
        return GamificationProfile.objects.select_for_update().get(user=user)
    except GamificationProfile.DoesNotExist:
        get_or_create_profile(user)
        return GamificationProfile.objects.select_for_update().get(user=user)


def _today(user, now: datetime | None = None):
    return rules.local_date(now or timezone.now(), user.tzinfo)


def _streak_payload(profile: GamificationProfile) -> dict:
    return {
        "daily": {
            "current": profile.daily_current,
            "longest": profile.daily_longest,
            "last_date": profile.daily_last_date.isoformat() if profile.daily_last_date else None,
            "freezes": profile.freezes,
        },
        "weekly": {"current": profile.weekly_current, "longest": profile.weekly_longest},
    }


def _set_streaks(user, profile, daily: rules.DailyStreak, weekly: rules.WeeklyStreak) -> bool:
    """Store new streak states; emit `streak.changed` when anything visible moved."""
    before = (profile.daily, profile.weekly)
    profile.daily, profile.weekly = daily, weekly
    if before == (profile.daily, profile.weekly):
        return False
    visible_before = (before[0].current, before[0].longest, before[0].freezes, before[1].current, before[1].longest)
    visible_after = (daily.current, daily.longest, daily.freezes, weekly.current, weekly.longest)
    if visible_before != visible_after:
        events.emit(
            StreakChanged(
                user=user,
                previous={"daily": before[0].current, "weekly": before[1].current},
                **_streak_payload(profile),
            )
        )
    return True


def catch_up_streaks(user, *, now: datetime | None = None) -> GamificationProfile:
    """Bring the stored streaks up to the user's today (spend freezes, break streaks), so a
    profile never shows a stale streak. Writes only when something changed."""
    profile = get_or_create_profile(user)
    today = _today(user, now)
    daily, weekly = rules.daily_as_of(profile.daily, today), rules.weekly_as_of(profile.weekly, today)
    if (daily, weekly) == (profile.daily, profile.weekly):
        return profile
    with transaction.atomic():
        profile = lock_profile(user)
        daily, weekly = rules.daily_as_of(profile.daily, today), rules.weekly_as_of(profile.weekly, today)
        if _set_streaks(user, profile, daily, weekly):
            profile.save()
    return profile


def catch_up_all_streaks(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """The beat job: normalize every live streak. Returns how many profiles changed."""
    changed = 0
    qs = GamificationProfile.objects.filter(Q(daily_current__gt=0) | Q(weekly_current__gt=0)).select_related("user")
    for profile in qs.iterator(chunk_size=batch_size):
        today = _today(profile.user, now)
        if (rules.daily_as_of(profile.daily, today), rules.weekly_as_of(profile.weekly, today)) != (
            profile.daily,
            profile.weekly,
        ):
            catch_up_streaks(profile.user, now=now)
            changed += 1
    return changed


# ------------------------------------------------------------------------------------------------
# The ledger
# ------------------------------------------------------------------------------------------------
@dataclass
class AwardResult:
    entry: LedgerEntry
    created: bool
    level_change: tuple[int, int] | None
    profile: GamificationProfile


def award(
    user,
    *,
    points: int,
    xp: int,
    reason: str,
    source: str,
    idempotency_key: str,
    breakdown=None,
    source_id: str = "",
    occurred_at: datetime | None = None,
    reverses: LedgerEntry | None = None,
    profile: GamificationProfile | None = None,
) -> AwardResult:
    """Add one ledger row and move the user's totals, once per `idempotency_key`.

    Pass `profile` when the caller already holds the row lock (it is saved here)."""
    if isinstance(points, bool) or not isinstance(points, int) or isinstance(xp, bool) or not isinstance(xp, int):
        raise TypeError("points and xp must be integers")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if not idempotency_key:
        raise ValueError("an idempotency key is required")
    with tracing.span("gamification.award", **{"gamification.source": source, "gamification.points": points}):
        return _award(user, points=points, xp=xp, reason=reason, source=source, idempotency_key=idempotency_key,
                      breakdown=breakdown, source_id=source_id, occurred_at=occurred_at, reverses=reverses,
                      profile=profile)


def _award(user, *, points, xp, reason, source, idempotency_key, breakdown, source_id, occurred_at, reverses,
           profile) -> AwardResult:
    with transaction.atomic(savepoint=False):
        profile = profile if profile is not None else lock_profile(user)
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.user_id != user.pk:
                raise ValueError("idempotency key already used by another user")
            return AwardResult(existing, False, None, profile)
        entry = LedgerEntry.objects.create(
            user=user,
            points=points,
            xp=xp,
            reason=reason[:200],
            source=source,
            source_id=str(source_id or ""),
            idempotency_key=idempotency_key,
            breakdown=breakdown if breakdown is not None else [{"reason": reason, "amount": points}],
            occurred_at=occurred_at or timezone.now(),
            reverses=reverses,
        )
        before_xp = profile.xp
        profile.points += points
        profile.xp += xp
        profile.level = rules.level_for_xp(profile.xp).level
        profile.save()
        change = rules.level_change(before_xp, profile.xp)
        events.emit(PointsAwarded(user=user, entry=entry, total_points=profile.points))
        if change and change[1] > change[0]:
            events.emit(LevelUp(user=user, from_level=change[0], to_level=change[1]))
            after_commit(notices.level_reached, user, change[0], change[1])
    leaderboards.queue(user.pk, points, entry.occurred_at, entry.pk)
    return AwardResult(entry, True, change, profile)


def reverse(entry: LedgerEntry, *, reason: str = "reversal", profile: GamificationProfile | None = None) -> AwardResult:
    """Compensate an entry (once): the same points and XP, negated, on its original period."""
    if entry.reverses_id is not None:
        raise ValueError("a reversal cannot be reversed; award again instead")
    return award(
        entry.user,
        points=-entry.points,
        xp=-entry.xp,
        reason=reason,
        source="reversal",
        source_id=entry.pk,
        idempotency_key=f"reverse:{entry.pk}",
        breakdown=[{"reason": reason, "amount": -entry.points}],
        occurred_at=entry.occurred_at,
        reverses=entry,
        profile=profile,
    )


# ------------------------------------------------------------------------------------------------
# Badges
# ------------------------------------------------------------------------------------------------
def _badge_summary(user_badge: UserBadge) -> dict:
    badge = user_badge.badge
    return {
        "id": badge.pk,
        "slug": badge.slug,
        "name": badge.name,
        "icon": badge.icon,
        "rarity": badge.rarity,
        "points": badge.points,
        "earned_at": iso_utc(user_badge.earned_at),
    }


def _grant(user, profile: GamificationProfile, badge: Badge, now: datetime) -> UserBadge:
    result = award(
        user,
        points=badge.points,
        xp=badge.points,
        reason=f"badge:{badge.slug}",
        source="badge",
        source_id=badge.pk,
        idempotency_key=f"badge:{user.pk}:{badge.pk}",
        profile=profile,
    )
    user_badge = UserBadge.objects.create(user=user, badge=badge, earned_at=now, ledger_entry=result.entry)
    profile.badges = [*profile.badges, _badge_summary(user_badge)]
    profile.save(update_fields=["badges", "updated_at"])
    events.emit(BadgeAwarded(user=user, badge=badge, user_badge=user_badge))
    after_commit(notices.badge_earned, user, badge)
    return user_badge


def grant_badge(user, badge: Badge) -> tuple[UserBadge, str]:
    """Staff action: hand a badge out regardless of its criteria (points through the ledger,
    `badge.awarded`). Returns (award, outcome): "awarded", "already", or "revoked" (a revoked
    badge is not handed out again)."""
    with transaction.atomic():
        profile = lock_profile(user)
        existing = UserBadge.objects.filter(user=user, badge=badge).select_related("badge").first()
        if existing is not None:
            return existing, ("already" if existing.active else "revoked")
        return _grant(user, profile, badge, timezone.now()), "awarded"


def badge_summary(user_badge: UserBadge) -> dict:
    return {"_id": user_badge.badge_id, **_badge_summary(user_badge)}


def evaluate_badges(user, profile: GamificationProfile | None = None, *, recorded: Activity | None = None) -> list[UserBadge]:
    """Award every active badge whose criteria the user now meets (badge points can unlock
    further badges, so this repeats until nothing new is earned). Runs under the profile lock:
    pass `profile` when the caller holds it (its transaction then carries the awards, so one
    commit makes one leaderboard pipeline).

    `recorded` is the event that prompted the check. Then an event-count badge is only counted
    if that event may be one it counts: any other's count has not moved since the check made
    when its last counted event was recorded, so its aggregate (the costliest query of a
    completion) is skipped. Without `recorded` every badge is checked (the user's own
    "check my badges", staff), which also catches a badge created after the events it counts."""
    if profile is None:
        with transaction.atomic():
            return _evaluate_badges(user, lock_profile(user), recorded)
    return _evaluate_badges(user, profile, recorded)


def _evaluate_badges(user, profile: GamificationProfile, recorded: Activity | None = None) -> list[UserBadge]:
    now = timezone.now()
    owned = UserBadge.objects.filter(user=user).values("badge_id")
    candidates = list(Badge.objects.filter(active=True).exclude(pk__in=owned))
    if recorded is not None:
        candidates = [
            b for b in candidates
            if b.criteria.get("type") != "event_count" or rules.may_count(b.criteria, recorded.kind, recorded.facts)
        ]
    if not candidates:
        return []
    counts = selectors.event_counts(user, candidates)
    awarded: list[UserBadge] = []
    while candidates:
        earned = []
        for badge in candidates:
            current, target = selectors.badge_progress(badge, profile, counts)
            if current >= target:
                earned.append(badge)
        if not earned:
            break
        for badge in earned:
            awarded.append(_grant(user, profile, badge, now))
            candidates.remove(badge)
    return awarded


def revoke_badge(user_badge: UserBadge, *, by=None, reason: str = "") -> UserBadge:
    """Staff action: take a badge back and reverse its points. A revoked badge is not awarded
    again by later evaluations."""
    with transaction.atomic():
        profile = lock_profile(user_badge.user)
        user_badge = (
            UserBadge.objects.select_for_update(of=("self",)).select_related("badge", "ledger_entry").get(pk=user_badge.pk)
        )
        if user_badge.revoked_at is not None:
            return user_badge
        if user_badge.ledger_entry is not None:
            reverse(user_badge.ledger_entry, reason=f"badge revoked:{user_badge.badge.slug}", profile=profile)
        user_badge.revoked_at = timezone.now()
        user_badge.revoked_by = by
        user_badge.revoke_reason = reason[:300]
        user_badge.save(update_fields=["revoked_at", "revoked_by", "revoke_reason", "updated_at"])
        profile.badges = [b for b in profile.badges if b.get("id") != user_badge.badge_id]
        profile.save(update_fields=["badges", "updated_at"])
    return user_badge


# ------------------------------------------------------------------------------------------------
# Completions -> effects
# ------------------------------------------------------------------------------------------------
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
        badges_awarded.append({"_id": user_badge.badge.pk, **_badge_summary(user_badge)})
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


def _active_task_days(user) -> list:
    return list(
        Activity.objects.filter(user=user, kind="task.completed", reversed=False)
        .values_list("local_date", flat=True)
        .distinct()
    )


def _streaks_now(user, now=None) -> tuple[rules.DailyStreak, rules.WeeklyStreak]:
    """The user's streaks from every recorded completion, as the rebuild computes them."""
    return rules.streaks_from_days(_active_task_days(user), _today(user, now))


def completion_key(task_id, completed_at: datetime) -> str:
    """The idempotency key of one completion of a task (a reopen and a new completion get a new one)."""
    return f"task:{task_id}:completed:{completed_at.timestamp():.6f}"


def record_task_completion(user, task, *, completed_at: datetime, actual_duration=None, efficiency=None) -> Effects:
    """Award a completed task (once per completion): points by the rules, streaks, stats, badges."""
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
            },
        )
        if activity is None:
            return Effects(streak=_streak_effect(profile))
        daily, weekly = _streaks_now(user, now)
        _set_streaks(user, profile, daily, weekly)
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
        _set_streaks(user, profile, *_streaks_now(user, now))
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


# ------------------------------------------------------------------------------------------------
# Preferences
# ------------------------------------------------------------------------------------------------
def update_preferences(user, **changes) -> GamificationProfile:
    with transaction.atomic():
        profile = lock_profile(user)
        was_visible = profile.show_leaderboard
        for name in ("show_leaderboard", "enable_notifications", "challenge_difficulty"):
            if name in changes:
                setattr(profile, name, changes[name])
        profile.save()
        if profile.show_leaderboard != was_visible:
            visible = profile.show_leaderboard
            transaction.on_commit(lambda: leaderboards.set_visibility(user.pk, visible), robust=True)
    return profile


# ------------------------------------------------------------------------------------------------
# Rebuild from the ledger
# ------------------------------------------------------------------------------------------------
def rebuild_user(user, *, write: bool = True, now: datetime | None = None) -> list[str]:
    """Recompute a user's totals, level, stats, streaks and badge list from the ledger and the
    recorded activities; return one line per drifting value (and fix it when `write`)."""
    from django.db.models import Sum

    now = now or timezone.now()
    drift: list[str] = []
    with transaction.atomic():
        profile = lock_profile(user)
        sums = LedgerEntry.objects.filter(user=user).aggregate(points=Sum("points"), xp=Sum("xp"))
        points, xp = int(sums["points"] or 0), int(sums["xp"] or 0)
        activities = list(Activity.objects.filter(user=user, reversed=False).only("kind", "facts", "local_date"))
        tasks = [a for a in activities if a.kind == "task.completed"]
        efficiencies = [float(a.facts["efficiency"]) for a in tasks if a.facts.get("efficiency") is not None]
        today = _today(user, now)
        daily, weekly = rules.streaks_from_days((a.local_date for a in tasks), today)
        user_badges = list(UserBadge.objects.filter(user=user).select_related("badge", "ledger_entry__reversal"))
        for ub in user_badges:
            try:
                reversed_ = ub.ledger_entry is not None and ub.ledger_entry.reversal is not None
            except LedgerEntry.DoesNotExist:
                reversed_ = False
            if ub.active and (ub.ledger_entry is None or reversed_):
                drift.append(f"{user.pk} badge {ub.badge.slug}: earned but its points are missing or reversed")
            if not ub.active and ub.ledger_entry is not None and not reversed_:
                drift.append(f"{user.pk} badge {ub.badge.slug}: revoked but its points were not reversed")
        active_badges = sorted(
            (_badge_summary(ub) for ub in user_badges if ub.active), key=lambda b: b["earned_at"]
        )
        expected = {
            "points": points,
            "xp": xp,
            "level": rules.level_for_xp(xp).level,
            "tasks_completed": len(tasks),
            "challenges_completed": sum(1 for a in activities if a.kind == "challenge.completed"),
            "total_time_spent": sum(int(a.facts.get("actual_duration") or 0) for a in tasks),
            "efficiency_count": len(efficiencies),
        }
        for name, value in expected.items():
            if getattr(profile, name) != value:
                drift.append(f"{user.pk} {name}: profile {getattr(profile, name)} != ledger {value}")
                setattr(profile, name, value)
        if abs(profile.efficiency_sum - sum(efficiencies)) > 1e-6:
            drift.append(f"{user.pk} efficiency_sum: profile {profile.efficiency_sum} != ledger {sum(efficiencies)}")
            profile.efficiency_sum = sum(efficiencies)
        if rules.daily_as_of(profile.daily, today) != daily:
            drift.append(f"{user.pk} daily streak: profile {profile.daily} != activities {daily}")
        if rules.weekly_as_of(profile.weekly, today) != weekly:
            drift.append(f"{user.pk} weekly streak: profile {profile.weekly} != activities {weekly}")
        profile.daily, profile.weekly = daily, weekly
        if sorted(b["id"] for b in profile.badges) != sorted(b["id"] for b in active_badges):
            drift.append(f"{user.pk} badges: profile lists {len(profile.badges)}, {len(active_badges)} are earned")
            profile.badges = active_badges
        if write and drift:
            profile.save()
        elif not write:
            transaction.set_rollback(True)
    return drift


def rebuild_all(*, write: bool = True, now: datetime | None = None) -> list[str]:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    ids = set(GamificationProfile.objects.values_list("user_id", flat=True)) | set(
        LedgerEntry.objects.values_list("user_id", flat=True).distinct()
    )
    drift: list[str] = []
    for user in User.objects.filter(pk__in=ids).order_by("pk").iterator(chunk_size=500):
        drift.extend(rebuild_user(user, write=write, now=now))
    drift.extend(leaderboards.rebuild(write=write, now=now))
    return drift
