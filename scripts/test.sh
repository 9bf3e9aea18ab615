#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts the services the tests use (Redis,
# PostgreSQL when DATABASE_URL names it, a test Orthanc on 127.0.0.1:8043), then lint, types
# and pytest (unit, integration against the real services and a real Celery worker, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh test "${CDSS_TEST_ORTHANC_PORT:-8043}"
export DJANGO_SETTINGS_MODULE=cdss.settings.test
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy .
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
