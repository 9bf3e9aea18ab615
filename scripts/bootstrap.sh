#!/usr/bin/env bash
# Install everything the project needs, idempotently: Debian packages that are missing, the
# Python virtual environment (pinned by constraints.txt) and the front-end build.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
for pkg in redis-server orthanc orthanc-dicomweb chromium python3-venv curl wrk; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  # Debian's packages may start their own daemons; ours are started by the project's scripts.
  if [ -x /etc/init.d/orthanc ]; then $SUDO /etc/init.d/orthanc stop >/dev/null 2>&1 || true; fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.cdss-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python packages"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch 2.13.0 (CPU) comes from this machine's local wheel store when present.
  .venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi

if [ -f frontend/package.json ]; then
  fstamp=frontend/node_modules/.cdss-installed
  fwant=$(cat frontend/package.json frontend/package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ ! -f "$fstamp" ] || [ "$(cat "$fstamp")" != "$fwant" ]; then
    echo "bootstrap: installing front-end packages"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    echo "$fwant" > "$fstamp"
  fi
  bstamp=frontend/dist/.cdss-built
  bwant=$( (find frontend/src frontend/index.html frontend/vite.config.ts frontend/package-lock.json -type f 2>/dev/null | sort | xargs cat) | sha256sum | cut -d' ' -f1)
  if [ ! -f "$bstamp" ] || [ "$(cat "$bstamp")" != "$bwant" ]; then
    echo "bootstrap: building the front end"
    (cd frontend && npm run build --silent)
    echo "$bwant" > "$bstamp"
  fi
fi
