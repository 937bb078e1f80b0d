from challenges.tests.conftest import cyrex, no_ai  # noqa: F401 - the fake AI service, shared with challenges
from devtools.testing.celery import eager_celery  # noqa: F401 - autouse: Celery runs inline in these tests
