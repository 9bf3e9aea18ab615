#!/usr/bin/env bash
# Chaos run: kill -9 the worker's pool child mid-inference twenty times (CI does five), then the
# main process, duplicate deliveries, a Redis restart and a 30 s PostgreSQL outage. Every request
# must still end with exactly one report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh test "${CDSS_TEST_ORTHANC_PORT:-8043}" >/dev/null
export DJANGO_SETTINGS_MODULE=cdss.settings.test CHAOS_ROUNDS=${CHAOS_ROUNDS:-20}
exec .venv/bin/python -m pytest -q tests/integration/test_analysis_reliability.py tests/integration/test_analysis_live.py tests/integration/test_database_outage.py "$@"
