#!/usr/bin/env bash
# Make sure the backing services are running (idempotent): Redis, PostgreSQL when
# DATABASE_URL points at it, and the project's own Orthanc. Starts only what is not running.
#   scripts/services.sh [orthanc-name] [orthanc-port]
set -euo pipefail
cd "$(dirname "$0")/.."
ORTHANC_NAME=${1:-demo}
ORTHANC_PORT=${2:-8042}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

redis_port=$(python3 -c "from urllib.parse import urlparse; print(urlparse('$REDIS_URL').port or 6379)")
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "services: starting Redis on 127.0.0.1:$redis_port"
  mkdir -p var/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log" --pidfile "$PWD/var/redis/redis.pid"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

case "${DATABASE_URL:-}" in
  postgres*|pgsql*)
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
      echo "services: starting PostgreSQL"
      if command -v pg_ctlcluster >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
      fi
      for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    fi
    .venv/bin/python scripts/pg_ensure_db.py
    ;;
esac

python3 scripts/orthanc.py start --name "$ORTHANC_NAME" --port "$ORTHANC_PORT"
