from deepiri.testing.celery import eager_celery  # noqa: F401 - autouse: Celery runs inline in these tests
