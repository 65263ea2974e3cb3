"""Initialise the staging bucket: versioning, CORS, lifecycle, test layout. Idempotent.

Self-contained on purpose (standard library + boto3 only): `stagectl render` embeds this very
file in `compose/s3/init-s3.sh`, which runs it inside the S3 container (the moto image ships
python3 and boto3), so the local and compose backends share one implementation.
"""

from __future__ import annotations

import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Prefixes the dashboard writes under (uploads, thumbnails, backups) plus a probe object the
# smoke tests read back. Directory markers are empty objects ending in "/".
TEST_PREFIXES = ("uploads/", "images/", "images/thumbnails/", "backups/", "staging-test/")
TEST_OBJECTS = {"staging-test/hello.txt": b"stagectl s3 init test object\n"}
LIFECYCLE_RULE_ID = "expire-noncurrent-versions"


def _client(endpoint_url: str, region: str, access_key: str, secret_key: str):
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=10)
    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config,
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _ensure_bucket(s3, bucket: str, region: str) -> list[str]:
    try:
        s3.head_bucket(Bucket=bucket)
        return []
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **kwargs)
    return [f"created bucket {bucket}"]


def _ensure_versioning(s3, bucket: str, fresh: bool) -> list[str]:
    if not fresh and s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
        return []
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return ["enabled versioning"]


def _ensure_cors(s3, bucket: str, origins: list[str], fresh: bool) -> list[str]:
    wanted = {
        "AllowedOrigins": sorted(origins),
        "AllowedMethods": ["GET", "HEAD", "POST", "PUT"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "x-amz-version-id"],
        "MaxAgeSeconds": 3000,
    }
    try:
        current = [] if fresh else s3.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    except ClientError as exc:
        if _error_code(exc) != "NoSuchCORSConfiguration":
            raise
        current = []
    normalised = [{k: sorted(v) if k == "AllowedOrigins" else v for k, v in rule.items() if k != "ID"} for rule in current]
    if normalised == [wanted]:
        return []
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [wanted]})
    return [f"set CORS for {len(origins)} origin(s)"]


def _ensure_lifecycle(s3, bucket: str, noncurrent_days: int, fresh: bool) -> list[str]:
    try:
        rules = [] if fresh else s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if _error_code(exc) != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    current = [
        (r.get("ID"), r.get("Status"), r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"))
        for r in rules
    ]
    if current == [(LIFECYCLE_RULE_ID, "Enabled", noncurrent_days)]:
        return []
    rule = {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    return [f"set lifecycle: noncurrent versions expire after {noncurrent_days} days"]


def _ensure_objects(s3, bucket: str, fresh: bool) -> list[str]:
    done = []
    wanted = {prefix: b"" for prefix in TEST_PREFIXES} | TEST_OBJECTS
    for key, body in wanted.items():
        if fresh:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            done.append(f"put {key}")
            continue
        try:
            existing = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if existing == body:
                continue  # re-putting would add a new version: not idempotent
        except ClientError as exc:
            if _error_code(exc) not in ("NoSuchKey", "404"):
                raise
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        done.append(f"put {key}")
    return done


def init_s3(
    endpoint_url: str,
    bucket: str,
    region: str,
    access_key: str,
    secret_key: str,
    cors_origins: list[str] | str,
    noncurrent_days: int,
) -> list[str]:
    """Bring the bucket to the wanted state; return what was changed ([] when already there)."""
    if isinstance(cors_origins, str):
        cors_origins = [o.strip() for o in cors_origins.split(",") if o.strip()]
    if not cors_origins:
        raise ValueError("S3_CORS_ORIGINS names no origin")
    if int(noncurrent_days) < 1:
        raise ValueError("S3_LIFECYCLE_NONCURRENT_DAYS must be at least 1")
    s3 = _client(endpoint_url, region, access_key, secret_key)
    actions = _ensure_bucket(s3, bucket, region)
    # A bucket created just now has no configuration and no objects: skip reading them back
    # (moto keeps no state, so this is every local `up`; it halves the requests on s3's path).
    fresh = bool(actions)
    actions += _ensure_versioning(s3, bucket, fresh)
    actions += _ensure_cors(s3, bucket, list(cors_origins), fresh)
    actions += _ensure_lifecycle(s3, bucket, int(noncurrent_days), fresh)
    actions += _ensure_objects(s3, bucket, fresh)
    return actions


def main(environ=os.environ) -> int:
    """Entry point of compose/s3/init-s3.sh: read the S3_* / AWS_* variables, print the actions."""
    required = ("S3_ENDPOINT_URL", "S3_BUCKET_NAME", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "S3_CORS_ORIGINS", "S3_LIFECYCLE_NONCURRENT_DAYS")
    missing = [name for name in required if not environ.get(name)]
    if missing:
        print(f"init-s3: missing variables: {', '.join(missing)}", file=sys.stderr)
        return 2
    actions = init_s3(
        environ["S3_ENDPOINT_URL"], environ["S3_BUCKET_NAME"], environ["AWS_DEFAULT_REGION"],
        environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ["S3_CORS_ORIGINS"],
        int(environ["S3_LIFECYCLE_NONCURRENT_DAYS"]),
    )
    for action in actions or ["nothing to do: bucket already initialised"]:
        print(f"init-s3: {action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
