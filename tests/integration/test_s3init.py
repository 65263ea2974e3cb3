"""S3 initialisation against a real moto server on a free loopback port: everything configured,
a second run changes nothing, drift is repaired; the rendered init-s3.sh does the same."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest

from stagectl.render import committed_project, render
from stagectl.s3init import LIFECYCLE_RULE_ID, TEST_OBJECTS, TEST_PREFIXES, init_s3

pytestmark = pytest.mark.integration

MOTO = shutil.which("moto_server")
ORIGINS = ["http://localhost:8080", "http://localhost:3001"]
CREDS = {"access_key": "test-access", "secret_key": "test-secret"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """One moto server for the module (start-up dominates); each test uses its own bucket."""
    # moto[s3] is a declared dependency: its absence is a broken install, not a reason to skip.
    assert MOTO is not None, "moto_server not on PATH (pip install -e '.[test]' installs moto[s3], flask, flask-cors)"
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, f"moto_server exited with {proc.returncode}"
            try:
                if httpx.get(f"{url}/moto-api/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "moto_server not ready within 15 s"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture()
def bucket(request) -> str:
    return "stagectl-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")


def _client(url: str, region: str = "us-east-1"):
    return boto3.client("s3", endpoint_url=url, region_name=region,
                        aws_access_key_id=CREDS["access_key"], aws_secret_access_key=CREDS["secret_key"])


def _versions(s3, bucket: str) -> list[tuple[str, str]]:
    listed = s3.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []))


def test_init_configures_everything_and_second_run_changes_nothing(moto_endpoint, bucket):
    actions = init_s3(moto_endpoint, bucket, "us-east-1", cors_origins=",".join(ORIGINS), noncurrent_days=30, **CREDS)
    assert actions[:4] == [
        f"created bucket {bucket}", "enabled versioning", "set CORS for 2 origin(s)",
        "set lifecycle: noncurrent versions expire after 30 days",
    ]
    s3 = _client(moto_endpoint)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (cors,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert sorted(cors["AllowedOrigins"]) == sorted(ORIGINS) and "PUT" in cors["AllowedMethods"]
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["ID"] == LIFECYCLE_RULE_ID and rule["Status"] == "Enabled" and "Filter" in rule
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == set(TEST_PREFIXES) | set(TEST_OBJECTS)
    for key, body in TEST_OBJECTS.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body

    before = _versions(s3, bucket)
    assert init_s3(moto_endpoint, bucket, "us-east-1", cors_origins=ORIGINS, noncurrent_days=30, **CREDS) == []
    assert _versions(s3, bucket) == before  # no object re-put (a versioned bucket would keep both)


def test_init_repairs_drift_and_honours_another_region(moto_endpoint, bucket):
    init_s3(moto_endpoint, bucket, "eu-west-1", cors_origins=ORIGINS, noncurrent_days=30, **CREDS)
    s3 = _client(moto_endpoint, "eu-west-1")
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    s3.delete_bucket_cors(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="staging-test/hello.txt")
    actions = init_s3(moto_endpoint, bucket, "eu-west-1", cors_origins=ORIGINS, noncurrent_days=7, **CREDS)
    assert actions == [
        "set CORS for 2 origin(s)", "set lifecycle: noncurrent versions expire after 7 days", "put staging-test/hello.txt",
    ]
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7


def test_bad_arguments_are_refused_before_any_call(bucket):
    with pytest.raises(ValueError, match="S3_CORS_ORIGINS"):
        init_s3("http://127.0.0.1:9", bucket, "us-east-1", cors_origins=" , ", noncurrent_days=30, **CREDS)
    with pytest.raises(ValueError, match="NONCURRENT"):
        init_s3("http://127.0.0.1:9", bucket, "us-east-1", cors_origins=ORIGINS, noncurrent_days=0, **CREDS)


def test_rendered_init_script_initialises_and_is_idempotent(moto_endpoint, bucket, tmp_path):
    script = tmp_path / "init-s3.sh"
    script.write_text(render(committed_project()).files["s3/init-s3.sh"].content)
    env = {
        "PATH": os.environ["PATH"], "S3_ENDPOINT_URL": moto_endpoint, "S3_BUCKET_NAME": bucket,
        "AWS_ACCESS_KEY_ID": CREDS["access_key"], "AWS_SECRET_ACCESS_KEY": CREDS["secret_key"],
    }
    python_dir = str(Path(sys.executable).parent)
    env["PATH"] = f"{python_dir}:{env['PATH']}"  # the script runs `python3` (the image's; here ours)
    first = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"init-s3: created bucket {bucket}" in first.stdout
    s3 = _client(moto_endpoint)
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == int(
        committed_project().env["S3_LIFECYCLE_NONCURRENT_DAYS"])  # default rendered from the example
    second = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and second.stdout.strip() == "init-s3: nothing to do: bucket already initialised"
    no_key = {k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"}
    refused = subprocess.run(["sh", str(script)], env=no_key, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "AWS_SECRET_ACCESS_KEY" in refused.stderr
