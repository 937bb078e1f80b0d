# Celery inline unless a test starts a real worker: the leaderboard updates are then sent in process
from deepiri.testing.celery import celery_worker, eager_celery  # noqa: F401
from deepiri.testing.daphne import _daphne_process, daphne_server  # noqa: F401
