#!/usr/bin/env bash
# The test suite, in two speeds.
#   bash scripts/test.sh          the full suite (what CI runs): installs what is missing, starts
#                                 the services the tests use (Redis, PostgreSQL when DATABASE_URL
#                                 names it, a test Orthanc on 127.0.0.1:8043), then lint, types
#                                 and pytest (unit, integration against the real services and a
#                                 real Celery worker, browser in Chromium).
#   bash scripts/test.sh --fast   lint, types and the unit tests only (no services, SQLite; the
#                                 `model` tests, which run a network over whole volumes, run in the full suite).
# Extra arguments go to pytest. Each tier prints its own time.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then fast=1; shift; fi
started=$SECONDS
bash scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=cdss.settings.test
if [ "$fast" = 1 ]; then
  unset DATABASE_URL
else
  bash scripts/services.sh "${CDSS_TEST_ORTHANC_NAME:-test}" "${CDSS_TEST_ORTHANC_PORT:-8043}"
fi
tier_start=$SECONDS
echo "== ruff"; .venv/bin/ruff check .
echo "== commit subjects"; bash scripts/check_commits.sh
echo "== mypy"; .venv/bin/mypy .
echo "== import contracts"; .venv/bin/lint-imports
echo "== pytest"
status=0
if [ "$fast" = 1 ]; then
  # Two workers: the unit tests are CPU-bound and independent (each worker has its own SQLite file).
  .venv/bin/python -m pytest -m "not integration and not browser and not model" -p no:cacheprovider -n 2 "$@" || status=$?
  echo "== fast tier (lint, types, unit tests): $((SECONDS - tier_start)) s (with install check: $((SECONDS - started)) s)"
else
  .venv/bin/python -m pytest "$@" || status=$?
  echo "== full suite: $((SECONDS - tier_start)) s (with install and services: $((SECONDS - started)) s)"
fi
exit $status
