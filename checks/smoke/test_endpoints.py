"""Endpoints in use (docs/contract.md §6): every client dials the configured address, not a default.

The full /health reports, per service, what the dashboard's client actually dials (taken from the
client, not from its settings). The stack under the integration test runs every stand-in on a
random free port, so a client with a hard-coded default address cannot match.
"""

from __future__ import annotations

import json
import re

import pytest

from ._support import SERVICES, full_health

ENV_NAME = "STAGECTL_DASHBOARD_ENDPOINTS"  # set by stagectl.smoke.target for a compose stack

_CREDENTIALS = re.compile(r"//[^/@]*@|password|secret", re.I)


@pytest.fixture(scope="module")
def expected(cfg) -> dict[str, str]:
    given = cfg.env.get(ENV_NAME)
    if given:  # a compose stack: the container's own view of its dependencies
        return json.loads(given)
    return {"database": f"{cfg.require('POSTGRES_HOST')}:{cfg.require('POSTGRES_PORT')}",
            "redis": f"{cfg.require('REDIS_HOST')}:{cfg.require('REDIS_PORT')}",
            "s3": cfg.require("S3_ENDPOINT_URL").rstrip("/"),
            "openai": cfg.require("OPENAI_BASE_URL").rstrip("/")}


class TestEndpoints:
    @pytest.mark.parametrize("service", SERVICES)
    @pytest.mark.local_access("the endpoints this project configured for its own stack")
    def test_endpoint_in_use_matches_config(self, api, expected, service):
        """Fault: a client ignores its endpoint setting (a hard-coded host, port or URL)."""
        reported = full_health(api)["services"][service].get("endpoint")
        assert reported is not None, f"{service}: the full /health reports no endpoint"
        assert reported.rstrip("/") == expected[service], f"{service}: dials {reported!r}, configured {expected[service]!r}"

    def test_no_credentials_in_endpoints(self, api):
        """Fault: an endpoint reported with a user:password@ part or a secret in it."""
        services = full_health(api)["services"]
        leaked = {n: s.get("endpoint") for n, s in services.items() if _CREDENTIALS.search(str(s.get("endpoint")))}
        assert leaked == {}
