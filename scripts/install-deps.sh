#!/usr/bin/env bash
# Installs what stagectl, the dashboard and their tests need on a fresh Debian machine.
# Idempotent: skips what is already there. Debian packages need root (as on CI).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || need_apt+=(prometheus-postgres-exporter)
command -v prometheus-redis-exporter >/dev/null || need_apt+=(prometheus-redis-exporter)
# Chromium renders the HTML report to PNG/PDF in the report tests.
command -v chromium >/dev/null || need_apt+=(chromium)
if ! command -v postgres >/dev/null && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need_apt[*]}; run as root: apt-get install -y --no-install-recommends ${need_apt[*]}" >&2
    exit 4
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian enables these units; on a systemd host they would hold the default ports.
  for unit in redis-server prometheus prometheus-postgres-exporter prometheus-redis-exporter; do
    (systemctl disable --now "$unit" >/dev/null 2>&1 || true)
  done
fi

python -m pip install -q --disable-pip-version-check -e ".[test]" -e "./dashboard[test]"
