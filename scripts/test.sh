#!/usr/bin/env bash
# README "test": set up everything the suite needs, then run the whole suite.
#  - the venv with runtime + test requirements
#  - Debian's Chromium for the admin browser test and nginx for the gateway test (installed when
#    missing and we are root)
#  - PostgreSQL and Redis: DATABASE_URL / REDIS_URL when given; otherwise the local servers on
#    127.0.0.1 when they answer; otherwise the embedded defaults (service tests then skip, never in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh --dev

if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver) >/dev/null
fi

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian nginx for the gateway (scale-out) test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx) >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${DATABASE_URL:-}" ] && port_open 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/deepiri_test"
fi
if [ -z "${REDIS_URL:-}" ] && port_open 6379; then
  export REDIS_URL="redis://127.0.0.1:6379/13"
  export REDIS_KEY_PREFIX=${REDIS_KEY_PREFIX:-deepiri-test}
fi
export TEST_DATABASE_NAME=${TEST_DATABASE_NAME:-test_deepiri_$(id -un)}
export DJANGO_SETTINGS_MODULE=deepiri.settings_test
echo "Testing with DATABASE_URL=${DATABASE_URL:-<sqlite>} REDIS_URL=${REDIS_URL:-<embedded>}"

set +e
.venv/bin/pytest "$@"
code=$?
set -e
if [ "$code" = 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$code"
