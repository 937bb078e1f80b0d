"""The rule-based generator: deterministic, and every challenge type playable from the task's text."""

from __future__ import annotations

import pytest

from challenges import rules
from challenges.types import CHALLENGE_TYPES, TaskSpec

STUDY = TaskSpec(
    title="Read chapter 5 of the algorithms book",
    description="Take notes on graphs. Focus on BFS and Dijkstra shortest paths.",
    type="study",
    priority="high",
    estimated_duration=45,
)


@pytest.mark.parametrize(
    ("title", "description", "expected"),
    [
        ("Fix the flaky payment test", "", "code"),
        ("Implement the leaderboard endpoint", "", "code"),
        ("Read chapter 5 of the algorithms book", "Take notes on graphs", "study"),
        ("Write the launch blog post", "", "creative"),
        ("Weekly meeting with the design team", "", "meeting"),
        ("Research competitor pricing", "compare three vendors", "research"),
        ("Pay the electricity invoice", "", "admin"),
        ("Water the plants", "", "manual"),
    ],
)
def test_classification_by_keywords(title, description, expected):
    assert rules.classify_task(title, description).type == expected


@pytest.mark.parametrize(
    ("duration", "title", "expected"),
    [
        (10, "Water the plants", "easy"),
        (30, "Water the plants", "medium"),
        (120, "Water the plants", "hard"),
        (300, "Water the plants", "very_hard"),
        (30, "Refactor the billing architecture", "hard"),
        (30, "Quick typo in the footer", "easy"),
    ],
)
def test_complexity_from_duration_and_words(duration, title, expected):
    assert rules.classify_task(title, "", duration).complexity == expected


@pytest.mark.parametrize(
    ("task_type", "title", "expected"),
    [
        ("study", "Anything", "quiz"),
        ("research", "Anything", "quiz"),
        ("code", "Anything", "coding_challenge"),
        ("creative", "Anything", "puzzle"),
        ("meeting", "Anything", "timed_completion"),
        ("admin", "Anything", "timed_completion"),
        ("manual", "Implement the login API", "coding_challenge"),  # default type: go by the text
        ("github", "Read the chapter on graphs", "quiz"),  # imported: go by the text
    ],
)
def test_challenge_type_from_task_type(task_type, title, expected):
    assert rules.challenge_type_for(TaskSpec(title=title, type=task_type)) == expected


def test_points_and_difficulty_follow_priority_and_time():
    base = rules.points_for("medium", 30, "medium")
    assert base == 250
    assert rules.points_for("medium", 90, "medium") == 375  # long task x1.5
    assert rules.points_for("medium", 10, "medium") == 175  # short task x0.7
    assert rules.points_for("medium", 30, "urgent") > base > rules.points_for("medium", 30, "low")
    assert rules.points_for("very_hard", 600, "urgent") <= rules.MAX_POINTS
    assert rules.difficulty_score_for("very_hard", "urgent") == 10


def test_deterministic():
    assert rules.build_challenge(STUDY) == rules.build_challenge(STUDY)


def test_quiz_questions_come_from_the_task_text():
    challenge = rules.build_challenge(STUDY)
    assert challenge.type == "quiz"
    assert challenge.source == "fallback"
    questions = challenge.configuration["questions"]
    assert len(questions) >= 3
    text = f"{STUDY.title} {STUDY.description}".lower()
    for q in questions:
        assert len(q["options"]) == 4
        assert len({o.lower() for o in q["options"]}) == 4
        assert 0 <= q["correct_answer"] < 4
    cloze = [q for q in questions if q["question"].startswith("Fill in the blank")]
    assert cloze, questions
    for q in cloze:
        answer = q["options"][q["correct_answer"]]
        assert answer in text  # the right answer is a word of the task
        # putting it back in the blank gives the task's own sentence
        assert q["question"].split("“")[1].rstrip("”").replace("_____", answer).lower() in text.lower() + " " + text
    priority_q = next(q for q in questions if "priority" in q["question"])
    assert priority_q["options"][priority_q["correct_answer"]] == "high"
    estimate_q = next(q for q in questions if "minutes" in q["question"])
    assert estimate_q["options"][estimate_q["correct_answer"]] == "45"


@pytest.mark.parametrize("ctype", CHALLENGE_TYPES)
def test_every_type_is_playable(ctype):
    challenge = rules.build_challenge(STUDY, challenge_type=ctype)
    config = challenge.configuration
    assert challenge.type == ctype
    assert rules.MIN_TIME_LIMIT <= config["time_limit"] <= rules.MAX_TIME_LIMIT
    assert config["hints"], "every challenge has hints"
    assert 1 <= challenge.difficulty_score <= 10
    assert 0 < challenge.points_reward <= rules.MAX_POINTS
    if ctype in ("quiz", "puzzle", "multiplayer"):
        assert config["questions"]
    if ctype == "coding_challenge":
        assert "def " in config["code_template"] and config["test_cases"]
    if ctype == "streak":
        assert config["milestones"]


def test_puzzle_unscrambles_the_task_words():
    challenge = rules.build_challenge(
        TaskSpec(title="Design the onboarding poster", type="creative", estimated_duration=20)
    )
    assert challenge.type == "puzzle"
    for q in challenge.configuration["questions"]:
        answer = q["options"][q["correct_answer"]]
        scrambled = q["question"].rsplit(": ", 1)[1].lower()
        assert sorted(scrambled) == sorted(answer)
        assert answer in "design the onboarding poster"


def test_milestones_only_for_long_tasks():
    short = rules.build_challenge(TaskSpec(title="Water the plants", estimated_duration=20))
    long = rules.build_challenge(TaskSpec(title="Water the plants", estimated_duration=90))
    assert short.configuration["milestones"] == []
    assert [m["progress"] for m in long.configuration["milestones"]] == [25, 50, 75]


def test_requested_difficulty_wins_but_adaptive_is_computed():
    assert rules.build_challenge(STUDY, difficulty="very_hard").difficulty == "very_hard"
    assert rules.build_challenge(STUDY, difficulty="adaptive").difficulty in ("easy", "medium", "hard", "very_hard")


def test_sql_task_gets_sql_template():
    challenge = rules.build_challenge(TaskSpec(title="Fix the slow SQL query on orders", type="code"))
    assert challenge.configuration["code_template"].startswith("-- Fix the slow SQL query")


def test_tiny_title_still_generates():
    for ctype in CHALLENGE_TYPES:
        challenge = rules.build_challenge(TaskSpec(title="x"), challenge_type=ctype)
        assert challenge.title
        for q in challenge.configuration["questions"]:
            assert len(q["options"]) >= 2 and 0 <= q["correct_answer"] < len(q["options"])
