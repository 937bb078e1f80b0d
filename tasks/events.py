"""Domain events emitted by the tasks app (see deepiri.events).

task.created    (user, task)
    After a task is created (in the creating transaction). Bulk imports may pass
    `create_task(..., emit=False)` and emit nothing per row.
task.completed  (user, task, completed_at, actual_duration, efficiency)
    Inside the completing transaction, exactly once per completion (a repeated or concurrent
    completion emits nothing). `actual_duration` (minutes) and `efficiency` (0-100) may be None
    when the user did not say how long it took. In-transaction subscribers may return an
    `effects` dict (gamification); `complete_task` merges them into its result.
task.reopened   (user, task, previous_completed_at)
    Inside the reopening transaction; subscribers may return (compensating) `effects`.
"""

TASK_CREATED = "task.created"
TASK_COMPLETED = "task.completed"
TASK_REOPENED = "task.reopened"
