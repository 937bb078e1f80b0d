import pytest


@pytest.fixture
def celery_eager():
    """Run Celery tasks inline for this test (with REDIS_URL set the app would queue them)."""
    from deepiri.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
