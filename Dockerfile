# One image for web (gunicorn), ws (daphne), worker and beat (Celery). Static files are collected
# here (hashed, gzip copies) and served by the web process (WhiteNoise).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 deepiri

COPY requirements.txt .
COPY constraints.txt .
RUN pip install -c constraints.txt -r requirements.txt

# The source, minus what .dockerignore keeps out: no test harness (devtools/), tests or dev
# requirements; production code never imports them (pyproject.toml's forbidden contract).
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput

USER deepiri
EXPOSE 8000 8001
# Worker class and count from GUNICORN_* (deploy/gunicorn.conf.py).
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "deepiri.wsgi:application"]
