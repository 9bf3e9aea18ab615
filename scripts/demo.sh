#!/usr/bin/env bash
# Install everything and start the whole system with demo data: web (Daphne), a Celery worker
# on both queues, Redis (if not running) and the project's Orthanc. Ctrl-C stops what this
# script started, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8000}
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-cdss.settings.dev}

bash scripts/bootstrap.sh

# Remember what was already running, so that Ctrl-C stops only what we start.
redis_was_up=0; redis-cli ping >/dev/null 2>&1 && redis_was_up=1
orthanc_was_up=0
if [ -f var/orthanc/orthanc.pid ] && kill -0 "$(cat var/orthanc/orthanc.pid)" 2>/dev/null; then orthanc_was_up=1; fi
bash scripts/services.sh demo 8042

pids=()
cleanup() {
  # A second Ctrl-C (or a TERM sent to the whole process group) must not cut the clean-up short.
  trap '' INT TERM
  trap - EXIT
  echo; echo "demo: stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$orthanc_was_up" = 0 ] && python3 scripts/orthanc.py stop --name demo
  if [ "$redis_was_up" = 0 ] && [ -f var/redis/redis.pid ]; then kill "$(cat var/redis/redis.pid)" 2>/dev/null || true; fi
}
trap cleanup INT TERM EXIT

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py demo_seed | tee var/demo-accounts.txt
.venv/bin/python manage.py demo_load_imaging

# Each worker process loads the imaging models as it starts, so the first analysis does not wait.
WORKER_WARM_MODELS=${WORKER_WARM_MODELS:-liver_ct_seg,brain_mri_seg} .venv/bin/celery -A cdss worker -B -s var/celerybeat-schedule -Q default,gpu -c 2 -l INFO -n "demo@%h" >var/worker.log 2>&1 &
pids+=($!)
# WEB_WORKERS Daphne processes share the port (scripts/web_serve.py): one per core here.
.venv/bin/python scripts/web_serve.py --workers "${WEB_WORKERS:-2}" --port "$PORT" >var/web.log 2>&1 &
pids+=($!)

echo "demo: waiting for http://127.0.0.1:$PORT/readyz"
for _ in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 1
done
curl -sS "http://127.0.0.1:$PORT/readyz"; echo
cat <<MSG

  CDSS is running: open http://127.0.0.1:$PORT/  (API docs: http://127.0.0.1:$PORT/api/docs/)
  Logins are listed above (also in var/demo-accounts.txt). Logs: var/web.log, var/worker.log.
  Press Ctrl-C to stop everything this command started.

MSG
wait -n "${pids[@]}" || true
