"""The local, rule-based challenge generator and task classifier.

Used whenever the AI service is not configured, down, slow, failing or answering nonsense, so
that generating a challenge never fails and every challenge type is playable; and on the AI's
success path too: it picks the requested challenge's type up front and fills in what the AI's
challenge left out (questions, hints, code), so it is named for what it is, not for when it runs. It is pure and
deterministic: the same task always gives the same challenge (no clock, no randomness, no
database); the "random" choices are seeded from a hash of the task's own text.

    classify_task(title, description, ...)      -> Classification
    build_challenge(TaskSpec, type=, difficulty=) -> GeneratedChallenge
"""

from __future__ import annotations

import hashlib
import re

from challenges.types import (
    CHALLENGE_TYPES,
    DIFFICULTIES,
    Classification,
    GeneratedChallenge,
    TaskSpec,
)

SOURCE = "fallback"
MODEL = "deepiri-rules-v1"

# --- classification -------------------------------------------------------------------------

# Checked in this order; the first type with a keyword hit wins (ties broken by hit count).
TYPE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "code": (
        "code", "coding", "program", "debug", "bug", "fix", "implement", "python", "function",
        "class", "method", "api", "algorithm", "script", "variable", "loop", "database", "sql",
        "javascript", "typescript", "java", "c++", "html", "css", "refactor", "endpoint", "deploy",
        "test", "tests", "unit", "migration", "compile", "repository", "pull", "commit", "django",
    ),
    "meeting": (
        "meeting", "meet", "call", "appointment", "standup", "sync", "interview", "1:1",
        "presentation", "demo", "retro",
    ),
    "study": (
        "read", "study", "learn", "homework", "chapter", "exam", "revise", "revision", "course",
        "lecture", "notes", "memorize", "practice", "textbook", "quiz",
    ),
    "research": (
        "research", "investigate", "analyse", "analyze", "compare", "survey", "explore",
        "evaluate", "benchmark", "literature", "sources", "findings",
    ),
    "creative": (
        "write", "design", "create", "draft", "sketch", "compose", "paint", "draw", "blog",
        "story", "logo", "mockup", "video", "edit", "brainstorm",
    ),
    "admin": (
        "email", "emails", "invoice", "expense", "expenses", "schedule", "book", "pay", "file",
        "paperwork", "form", "renew", "order", "organize", "organise", "inbox", "taxes", "receipt",
    ),
}
# `book` is both "book a room" (admin) and "the algorithms book" (study): admin only counts it
# when it is the first word (an imperative).
_IMPERATIVE_ONLY = {"admin": {"book", "file", "order", "pay"}}

HARD_WORDS = (
    "complex", "architecture", "migrate", "migration", "optimize", "optimise", "scale", "security",
    "distributed", "concurrency", "refactor", "thesis", "redesign", "integrate", "performance",
)
EASY_WORDS = ("quick", "simple", "small", "minor", "typo", "tiny", "easy", "short", "review")

STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "into", "is", "it", "its", "of", "on", "or", "our", "so", "that", "the", "their", "then", "this", "to", "was", "were", "will", "with", "within", "without", "my", "your", "we", "you", "i", "me", "up", "do", "does", "did", "not", "no", "can", "about", "after", "before", "all", "any", "but", "each", "how", "if", "more", "most", "other", "some", "such", "than", "too", "very", "just", "over", "out", "new", "get", "make", "take"]
)

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#'\-]*[A-Za-z0-9+#]|[A-Za-z]")


def _words(text: str) -> list[str]:
    return _WORD.findall(text or "")


def keywords_of(title: str, description: str = "", limit: int = 8) -> list[str]:
    """Distinct content words, title first, in order of appearance, lowercased."""
    seen: dict[str, None] = {}
    for word in _words(f"{title} {description}"):
        lower = word.lower()
        if len(lower) < 3 or lower in STOPWORDS or lower in seen:
            continue
        seen[lower] = None
        if len(seen) >= limit:
            break
    return list(seen)


def classify_task(
    title: str, description: str = "", estimated_duration: int | None = None, priority: str = "medium"
) -> Classification:
    words = [w.lower() for w in _words(f"{title} {description}")]
    first = words[0] if words else ""
    wordset = set(words)
    best_type, best_hits = "manual", 0
    for task_type, vocab in TYPE_KEYWORDS.items():
        hits = 0
        for kw in vocab:
            if kw in _IMPERATIVE_ONLY.get(task_type, ()) and first != kw:
                continue
            if kw in wordset:
                hits += 1
        if hits > best_hits:
            best_type, best_hits = task_type, hits

    duration = estimated_duration if estimated_duration and estimated_duration > 0 else None
    complexity = _complexity(wordset, duration, len(description or ""))
    if duration is None:
        duration = {"easy": 15, "medium": 30, "hard": 60, "very_hard": 120}[complexity]
    return Classification(
        type=best_type,
        complexity=complexity,
        estimated_duration=duration,
        keywords=keywords_of(title, description),
        source=SOURCE,
    )


_COMPLEXITY = ("easy", "medium", "hard", "very_hard")


def _complexity(wordset: set[str], duration: int | None, description_length: int) -> str:
    level = 1  # medium
    if duration is not None:
        if duration < 15:
            level = 0
        elif duration > 240:
            level = 3
        elif duration > 90:
            level = 2
    if wordset & set(HARD_WORDS):
        level += 1
    if wordset & set(EASY_WORDS):
        level -= 1
    if description_length > 800:
        level += 1
    return _COMPLEXITY[max(0, min(3, level))]


# --- challenge type, difficulty, points -------------------------------------------------------

CHALLENGE_TYPE_FOR_TASK_TYPE = {
    "study": "quiz",
    "research": "quiz",
    "code": "coding_challenge",
    "creative": "puzzle",
    "manual": "timed_completion",
    "meeting": "timed_completion",
    "admin": "timed_completion",
}

DIFFICULTY_SCORE = {"easy": 3, "medium": 5, "hard": 7, "very_hard": 9}
BASE_POINTS = {"easy": 100, "medium": 250, "hard": 500, "very_hard": 1000}
PRIORITY_FACTOR = {"low": 0.9, "medium": 1.0, "high": 1.15, "urgent": 1.3}
MAX_POINTS = 2000
MIN_TIME_LIMIT, MAX_TIME_LIMIT = 5, 480


def challenge_type_for(task: TaskSpec, classification: Classification | None = None) -> str:
    """study/research -> quiz, code -> coding_challenge, creative -> puzzle, else timed_completion.
    Tasks of the default type `manual` and imported ones (notion, github, ...) go by what their
    text is about."""
    task_type = task.type
    if task_type not in CHALLENGE_TYPE_FOR_TASK_TYPE or task_type == "manual":
        classification = classification or classify_task(task.title, task.description, task.estimated_duration)
        task_type = classification.type
    return CHALLENGE_TYPE_FOR_TASK_TYPE.get(task_type, "timed_completion")


def difficulty_for(classification: Classification, priority: str) -> str:
    level = _COMPLEXITY.index(classification.complexity)
    if priority == "urgent":
        level += 1
    return _COMPLEXITY[max(0, min(3, level))]


def points_for(difficulty: str, estimated_duration: int | None, priority: str) -> int:
    base = BASE_POINTS.get(difficulty, BASE_POINTS["medium"])
    factor = PRIORITY_FACTOR.get(priority, 1.0)
    if estimated_duration:
        if estimated_duration > 60:
            factor *= 1.5
        elif estimated_duration < 15:
            factor *= 0.7
    return max(10, min(MAX_POINTS, int(base * factor)))


def difficulty_score_for(difficulty: str, priority: str) -> int:
    score = DIFFICULTY_SCORE.get(difficulty, 5) + (1 if priority == "urgent" else 0)
    return max(1, min(10, score))


def time_limit_for(challenge_type: str, estimated: int, question_count: int = 0) -> int:
    if challenge_type in ("quiz", "puzzle") and question_count:
        minutes = max(5, 2 * question_count)
    else:
        minutes = estimated
    return max(MIN_TIME_LIMIT, min(MAX_TIME_LIMIT, int(minutes)))


def milestones_for(time_limit: int, points: int) -> list[dict]:
    """Long tasks get checkpoints at 25/50/75 %; each is worth a share of the reward."""
    if time_limit <= 30:
        return []
    return [
        {"name": name, "progress": pct, "points": max(1, points * pct // 1000)}
        for name, pct in (("Get started", 25), ("Halfway there", 50), ("Final stretch", 75))
    ]


# --- deterministic choice helpers -------------------------------------------------------------


def _seed(*parts) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _rotate(items: list, seed: int) -> list:
    if not items:
        return items
    k = seed % len(items)
    return items[k:] + items[:k]


# --- content: hints, quizzes, puzzles, code ---------------------------------------------------

GENERIC_DISTRACTORS = [
    "schedule", "budget", "outline", "review", "summary", "deadline", "feedback", "priority",
    "template", "checklist", "meeting", "draft", "report", "version", "session", "workflow",
]

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\n+")


def _sentences(task: TaskSpec) -> list[str]:
    parts = [task.title.strip()]
    parts += [s.strip() for s in _SENTENCE_SPLIT.split(task.description or "") if s.strip()]
    return [p for p in parts if len(_words(p)) >= 2]


def _options(correct: str, pool: list[str], seed: int, count: int = 4) -> tuple[list[str], int]:
    distractors = [w for w in pool if w.lower() != correct.lower()]
    for word in _rotate(GENERIC_DISTRACTORS, seed):
        if len(distractors) >= count * 2:
            break
        if word != correct.lower() and word not in distractors:
            distractors.append(word)
    picked: list[str] = []
    for word in _rotate(distractors, seed // 7):
        if word.lower() not in {p.lower() for p in picked}:
            picked.append(word)
        if len(picked) == count - 1:
            break
    position = seed % count
    options = picked[:position] + [correct] + picked[position:]
    return options, position


def quiz_questions(task: TaskSpec, max_questions: int = 5) -> list[dict]:
    """Cloze questions from the task's own sentences, then questions about the task itself."""
    keywords = keywords_of(task.title, task.description, limit=30)
    questions: list[dict] = []
    used: set[str] = set()
    for index, sentence in enumerate(_sentences(task)):
        candidates = [w for w in _words(sentence) if w.lower() in keywords and w.lower() not in used]
        if not candidates:
            continue
        # the longest content word is the most informative blank; ties by position
        answer = max(candidates, key=len)
        used.add(answer.lower())
        blanked = re.sub(rf"(?<![A-Za-z0-9]){re.escape(answer)}(?![A-Za-z0-9])", "_____", sentence, count=1)
        options, correct = _options(answer.lower(), keywords, _seed(task.title, index, answer))
        questions.append(
            {
                "question": f"Fill in the blank: “{blanked}”",
                "options": options,
                "correct_answer": correct,
                "points": 10,
            }
        )
        if len(questions) >= max_questions - 1:
            break
    priorities = ["low", "medium", "high", "urgent"]
    questions.append(
        {
            "question": f"What priority did you give “{_short(task.title)}”?",
            "options": priorities,
            "correct_answer": priorities.index(task.priority) if task.priority in priorities else 1,
            "points": 5,
        }
    )
    if task.estimated_duration:
        est = task.estimated_duration
        values = sorted({est, max(1, est // 2), est * 2, est + 15})
        while len(values) < 4:
            values.append(values[-1] + 10)
        questions.append(
            {
                "question": f"How many minutes did you estimate for “{_short(task.title)}”?",
                "options": [str(v) for v in values],
                "correct_answer": values.index(est),
                "points": 5,
            }
        )
    return questions[:max_questions]


def _scramble(word: str, seed: int) -> str:
    letters = list(word)
    if len(set(letters)) < 2:
        return word
    for step in range(len(letters) * 2):
        i = (seed >> (step % 48)) % len(letters)
        j = (seed // (step + 3)) % len(letters)
        letters[i], letters[j] = letters[j], letters[i]
    scrambled = "".join(letters)
    return scrambled if scrambled != word else word[::-1] if word[::-1] != word else word[1:] + word[0]


def puzzle_questions(task: TaskSpec, max_questions: int = 4) -> list[dict]:
    """Unscramble the task's own key words."""
    keywords = [k for k in keywords_of(task.title, task.description, limit=30) if len(k) >= 4 and k.isalpha()]
    if not keywords:
        keywords = ["focus", "finish", "progress"]
    questions = []
    for index, word in enumerate(keywords[:max_questions]):
        seed = _seed(task.title, "puzzle", index)
        options, correct = _options(word, keywords, seed)
        questions.append(
            {
                "question": f"Unscramble this word from your task: {_scramble(word, seed).upper()}",
                "options": options,
                "correct_answer": correct,
                "points": 10,
            }
        )
    return questions


LANGUAGE_HINTS = [
    ("sql", ("sql", "query", "database", "postgres", "mysql")),
    ("javascript", ("javascript", "js", "react", "node", "frontend", "typescript")),
    ("html", ("html", "css", "page", "layout")),
    ("java", ("java", "spring")),
    ("python", ()),
]


def _language(task: TaskSpec) -> str:
    words = {w.lower() for w in _words(f"{task.title} {task.description}")}
    for language, vocab in LANGUAGE_HINTS:
        if words & set(vocab):
            return language
    return "python"


def _identifier(title: str) -> str:
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", title) if w.lower() not in STOPWORDS][:5]
    name = "_".join(words) or "solve_task"
    return name if not name[0].isdigit() else f"task_{name}"


def code_template(task: TaskSpec) -> str:
    language = _language(task)
    name = _identifier(task.title)
    steps = _sentences(task)[1:4] or [f"Work through: {task.title}"]
    if language == "sql":
        body = "\n".join(f"-- TODO: {s}" for s in steps)
        return f"-- {task.title}\n{body}\nSELECT 1;\n"
    if language in ("javascript", "html"):
        camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)
        body = "\n".join(f"  // TODO: {s}" for s in steps)
        return f"// {task.title}\nfunction {camel}() {{\n{body}\n}}\n"
    if language == "java":
        body = "\n".join(f"        // TODO: {s}" for s in steps)
        return f"// {task.title}\nclass Task {{\n    void run() {{\n{body}\n    }}\n}}\n"
    body = "\n".join(f"    # TODO: {s}" for s in steps)
    return f'def {name}():\n    """{task.title}"""\n{body}\n    raise NotImplementedError\n'


def test_cases(task: TaskSpec) -> list[str]:
    cases = [f"Done when: {s}" for s in _sentences(task)[1:5]]
    cases.append(f"The change for “{_short(task.title)}” works end to end")
    cases.append("Existing tests still pass")
    return cases


def hints_for(task: TaskSpec, challenge_type: str, classification: Classification) -> list[str]:
    keywords = classification.keywords[:3]
    hints = [f"Start with the smallest piece of “{_short(task.title)}” you can finish in 10 minutes."]
    if keywords:
        hints.append("Keep your focus on: " + ", ".join(keywords) + ".")
    by_type = {
        "quiz": "Re-read your task description before answering; every answer comes from it.",
        "puzzle": "Every scrambled word appears in your task's title or description.",
        "coding_challenge": "Write the test cases first, then make them pass one at a time.",
        "timed_completion": "Set a timer for the first milestone and silence notifications.",
        "streak": "Do a little every day; consistency beats intensity.",
        "multiplayer": "Split the work: agree who does which part before the timer starts.",
        "custom": "Write down what 'done' means before you begin.",
    }
    hints.append(by_type.get(challenge_type, by_type["custom"]))
    return hints


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- the generator ----------------------------------------------------------------------------


def build_challenge(
    task: TaskSpec,
    *,
    challenge_type: str | None = None,
    difficulty: str | None = None,
    classification: Classification | None = None,
) -> GeneratedChallenge:
    classification = classification or classify_task(
        task.title, task.description, task.estimated_duration, task.priority
    )
    ctype = challenge_type if challenge_type in CHALLENGE_TYPES else challenge_type_for(task, classification)
    if difficulty in DIFFICULTIES and difficulty != "adaptive":
        diff = difficulty
    else:
        diff = difficulty_for(classification, task.priority)
    estimated = task.estimated_duration or classification.estimated_duration or 30
    points = points_for(diff, estimated, task.priority)
    configuration = build_configuration(task, ctype, classification, estimated, points)
    title_prefix = {
        "quiz": "Quiz",
        "puzzle": "Puzzle",
        "coding_challenge": "Code",
        "timed_completion": "Beat the clock",
        "streak": "Streak",
        "multiplayer": "Race",
        "custom": "Challenge",
    }[ctype]
    return GeneratedChallenge(
        type=ctype,
        title=f"{title_prefix}: {task.title}"[:200],
        description=_description(ctype, task, configuration["time_limit"]),
        difficulty=diff,
        difficulty_score=difficulty_score_for(diff, task.priority),
        points_reward=points,
        configuration=configuration,
        source=SOURCE,
        model=MODEL,
        classification=classification,
    )


def build_configuration(
    task: TaskSpec, ctype: str, classification: Classification, estimated: int, points: int
) -> dict:
    """A complete, playable configuration for any challenge type."""
    questions: list[dict] = []
    if ctype in ("quiz", "multiplayer"):
        questions = quiz_questions(task)
    elif ctype == "puzzle":
        questions = puzzle_questions(task)
    time_limit = time_limit_for(ctype, estimated, len(questions))
    config = {
        "time_limit": time_limit,
        "attempts": 3 if questions or ctype == "coding_challenge" else 1,
        "hints": hints_for(task, ctype, classification),
        "questions": questions,
        "milestones": milestones_for(time_limit, points),
        "code_template": code_template(task) if ctype == "coding_challenge" else "",
        "test_cases": test_cases(task) if ctype == "coding_challenge" else [],
    }
    if ctype == "streak":
        days = max(3, min(14, estimated // 30 or 3))
        config["milestones"] = [
            {"name": f"Day {d}", "progress": d * 100 // days, "points": max(1, points // days)}
            for d in range(1, days + 1)
        ]
    return config


def _description(ctype: str, task: TaskSpec, time_limit: int) -> str:
    what = {
        "quiz": f"Answer questions about your task in {time_limit} minutes.",
        "puzzle": f"Unscramble the key words of your task in {time_limit} minutes.",
        "coding_challenge": f"Implement it and make every test case pass within {time_limit} minutes.",
        "timed_completion": f"Complete this task within {time_limit} minutes!",
        "streak": "Make progress on this task every day until it is done.",
        "multiplayer": f"Race your friends through the questions in {time_limit} minutes.",
        "custom": f"Finish this task your way within {time_limit} minutes.",
    }[ctype]
    return f"{what} Task: {_short(task.title, 150)}"[:2000]
