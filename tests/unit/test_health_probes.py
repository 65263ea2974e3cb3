"""HTTP and TCP probes against real loopback listeners: what each answer means for readiness."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading

import pytest

from stagectl.health.probes import _tls_for, http_probe, tcp_probe


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 — the stdlib's name
        status = int(self.path.strip("/") or 200)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_probe_is_healthy_on_2xx_only(server):
    assert http_probe(f"{server}/200", 2)().ok
    result = http_probe(f"{server}/503", 2)()
    assert not result.ok and result.detail == "GET /503 → 503"


def test_http_probe_expect_decides_when_given(server):
    assert http_probe(f"{server}/403", 2, expect=lambda r: r.status_code in (200, 403))().ok


def test_http_probe_reports_a_refused_connection():
    result = http_probe(f"http://127.0.0.1:{_closed_port()}/", 1)()
    assert not result.ok and result.detail.startswith("ConnectError")


def test_tcp_probe_open_and_closed(server):
    port = int(server.rsplit(":", 1)[1])
    assert tcp_probe("127.0.0.1", port, 1)().ok
    assert not tcp_probe("127.0.0.1", _closed_port(), 1)().ok


def test_only_https_probes_carry_a_verifying_tls_context():
    """Fault: plain-http probes loading the CA bundle (once per service during start-up), or an
    https probe that does not verify certificates."""
    assert _tls_for("http://127.0.0.1:1/") is False
    context = _tls_for("https://example.invalid/")
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context is _tls_for("https://other.invalid/")  # one context, built once
