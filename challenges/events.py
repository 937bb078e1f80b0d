"""Domain events emitted by the challenges app (see deepiri.events).

challenge.generated (user, challenge)
    Inside the transaction that fills a generated challenge (status generating -> pending), once
    per challenge. After-commit subscribers push `challenge-generated` to the user's socket.
challenge.completed (user, challenge, task, points_reward, bonus_multiplier, difficulty, score,
                     accuracy, completion_time, hints_used, completed_at)
    Inside the completing transaction, exactly once per challenge. score and accuracy are 0-100,
    completion_time is seconds (None when unknown), bonus_multiplier a Decimal 1.00-3.00.
    In-transaction subscribers may return an `effects` dict (gamification), merged into the
    completion response.
"""

CHALLENGE_GENERATED = "challenge.generated"
CHALLENGE_COMPLETED = "challenge.completed"
