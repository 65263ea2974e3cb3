"""A configurable misbehaving service for reliability tests (standard library only).

Writes its pid to --pidfile once started, serves GET /health on --port, logs to stdout.
Modes: --healthy-after S, --never-healthy, --exit-after S --code N, --hang-health,
--ignore-sigterm, --spawn-child, --spawn-detached-child, --spew-mb N, --slow-stop S, --echo-env NAME.
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import os
import signal
import subprocess
import sys
import threading
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--healthy-after", type=float, default=0.0)
    p.add_argument("--never-healthy", action="store_true")
    p.add_argument("--exit-after", type=float)
    p.add_argument("--code", type=int, default=1)
    p.add_argument("--hang-health", action="store_true")
    p.add_argument("--ignore-sigterm", action="store_true")
    p.add_argument("--spawn-child", action="store_true")
    p.add_argument("--spawn-detached-child", action="store_true")
    p.add_argument("--spew-mb", type=float, default=0.0)
    p.add_argument("--slow-stop", type=float, default=0.0)
    p.add_argument("--echo-env", help="print this variable's value (tests that `logs` masks secrets)")
    p.add_argument("--tick", type=float, default=0.0, help="print '<UTC ISO time> <NAME> tick N' every TICK seconds")
    p.add_argument("--name", default="fake", help="the service name the ticks carry")
    args = p.parse_args()
    born = time.monotonic()
    with open(args.pidfile, "w") as fh:
        fh.write(str(os.getpid()))
    print(f"fake service pid {os.getpid()} port {args.port} run {os.environ.get('STAGECTL_RUN_ID')}", flush=True)

    if args.echo_env:
        print(f"{args.echo_env} is {os.environ.get(args.echo_env)}", flush=True)

    def on_term(signum, frame):
        print(f"got signal {signum}, stopping", flush=True)
        if args.ignore_sigterm:
            print("ignoring it", flush=True)
            return
        time.sleep(args.slow_stop)
        print("clean shutdown", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    children = []
    if args.spawn_child:
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
    if args.spawn_detached_child:
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                         start_new_session=True, stdout=sys.stdout))
    for child in children:
        print(f"child pid {child.pid}", flush=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if args.hang_health:
                time.sleep(3600)
            healthy = not args.never_healthy and time.monotonic() - born >= args.healthy_after
            self.send_response(200 if healthy else 503)
            self.end_headers()
            self.wfile.write(b"ok" if healthy else b"not yet")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    line = b"x" * 1023 + b"\n"
    ticks, next_tick = 0, born
    while True:
        if args.tick and time.monotonic() >= next_tick:
            ticks, next_tick = ticks + 1, next_tick + args.tick
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            print(f"{now} {args.name} tick {ticks}", flush=True)
        if args.exit_after is not None and time.monotonic() - born >= args.exit_after:
            print(f"exiting with code {args.code}", flush=True)
            os._exit(args.code)
        if args.spew_mb:
            for _ in range(int(args.spew_mb * 1024 / 10)):  # spew_mb per second, in 10 slices
                sys.stdout.buffer.write(line)
            sys.stdout.flush()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
