"""Section `s3`: the S3 init script creates the bucket with versioning, CORS and a filtered lifecycle rule.

The script may drive the aws CLI (`s3api put-bucket-cors`) or boto3 (`put_bucket_cors`); both
spellings of each S3 API operation are recognised.
"""

from __future__ import annotations

import re

from stagectl.checking import S3_INIT, CheckContext, check, failed, passed, verdict

SECTION = "s3"
CREATE_BUCKET = re.compile(r"create[-_]bucket|\bs3\s+mb\b")  # boto3, aws-cli s3api, or aws s3 mb


def _script(ctx: CheckContext) -> tuple[str, str]:
    path = ctx.rendered(S3_INIT)
    return ctx.text(path), ctx.rel(path)


def _op(name: str) -> re.Pattern[str]:
    """An S3 operation in CLI (put-bucket-cors) or boto3 (put_bucket_cors) spelling."""
    return re.compile(name.replace("-", "[-_]"))


def _mentions(text: str, ctx: CheckContext, var: str) -> bool:
    """The script uses $VAR / ${VAR} or the variable's literal value."""
    value = ctx.env.get(var, "")
    return bool(re.search(rf"\$\{{?{var}\b", text)) or bool(value and value in text)


def _call(text: str, operation: str) -> str | None:
    """The text of one S3 call: from the operation up to the next put-bucket call (max 600 chars)."""
    match = _op(operation).search(text)
    if not match:
        return None
    rest = text[match.end():match.end() + 600]
    following = re.search(r"put[-_]bucket", rest)
    return text[match.start():match.end()] + (rest[: following.start()] if following else rest)


def _line(text: str, pattern: re.Pattern[str]) -> int | None:
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


@check("s3.strict_mode", SECTION, "The script has a shebang and `set -e` (errexit).", catches="a failed bucket setup reported as success")
def strict_mode(ctx: CheckContext):
    text, rel = _script(ctx)
    problems = []
    if not text.startswith("#!"):
        problems.append(("no shebang on line 1", f"{rel}:1"))
    if not re.search(r"^\s*set\s+-[a-z]*e", text, re.M) and "set -o errexit" not in text:
        problems.append(("no `set -e`", rel))
    return verdict(problems, "shebang and errexit present")


@check("s3.shell_syntax", SECTION, "`bash -n` accepts the script.", catches="a render producing a script that dies on a syntax error")
def shell_syntax(ctx: CheckContext):
    run = ctx.tool("bash_syntax")
    _, rel = _script(ctx)
    if run.returncode != 0:
        return failed("bash -n rejects the script", location=rel, evidence=run.stderr[-2000:])
    return passed("bash -n: OK")


@check("s3.bucket_created", SECTION, "The script creates the bucket named by S3_BUCKET_NAME.", catches="the dashboard's uploads failing with NoSuchBucket")
def bucket_created(ctx: CheckContext):
    text, rel = _script(ctx)
    problems = []
    if not CREATE_BUCKET.search(text):
        problems.append(("no create-bucket call", rel))
    if not _mentions(text, ctx, "S3_BUCKET_NAME"):
        problems.append(("the bucket name does not come from S3_BUCKET_NAME", rel))
    return verdict(problems, "bucket created from S3_BUCKET_NAME")


@check("s3.bucket_idempotent", SECTION, "Creating the bucket tolerates an existing bucket.", catches="the init container failing on every restart after the first")
def bucket_idempotent(ctx: CheckContext):
    text, rel = _script(ctx)
    create_line = next((line for line in text.splitlines() if CREATE_BUCKET.search(line)), "")
    tolerant = "|| true" in create_line or re.search(r"head[-_]bucket|BucketAlreadyOwnedByYou|BucketAlreadyExists", text)
    return verdict([] if tolerant else [("create-bucket fails when the bucket exists", rel)], "bucket creation is idempotent")


@check("s3.versioning", SECTION, "Bucket versioning is enabled.", catches="overwritten or deleted objects unrecoverable (and the lifecycle rule meaningless)")
def versioning(ctx: CheckContext):
    text, rel = _script(ctx)
    call = _call(text, "put-bucket-versioning")
    ok = call and re.search(r"""Status\\?["']?\s*[=:]\s*\\?["']?Enabled""", call)
    return verdict([] if ok else [("no put-bucket-versioning with Status=Enabled", rel)], "versioning enabled")


@check("s3.cors", SECTION, "CORS rules are set from S3_CORS_ORIGINS.", catches="browser uploads blocked (or allowed from anywhere)")
def cors(ctx: CheckContext):
    text, rel = _script(ctx)
    problems = []
    if not _op("put-bucket-cors").search(text) or "AllowedOrigins" not in text:
        problems.append(("no put-bucket-cors with AllowedOrigins", rel))
    if not _mentions(text, ctx, "S3_CORS_ORIGINS"):
        problems.append(("allowed origins do not come from S3_CORS_ORIGINS", rel))
    return verdict(problems, "CORS configured from S3_CORS_ORIGINS")


@check("s3.lifecycle_filter", SECTION, "A lifecycle rule with a Filter expires noncurrent versions after S3_LIFECYCLE_NONCURRENT_DAYS.", catches="a lifecycle rule S3 rejects (no Filter/Prefix) or versions kept forever")
def lifecycle_filter(ctx: CheckContext):
    text, rel = _script(ctx)
    op = _op("put-bucket-lifecycle-configuration")
    problems = []
    if not op.search(text):
        return failed("no put-bucket-lifecycle-configuration call", location=rel)
    location = f"{rel}:{_line(text, op)}"
    if not re.search(r"""Filter\\?["']?\s*[:=]""", text):
        problems.append(("the lifecycle rule has no Filter", location))
    if "NoncurrentVersionExpiration" not in text or not _mentions(text, ctx, "S3_LIFECYCLE_NONCURRENT_DAYS"):
        problems.append(("no NoncurrentVersionExpiration from S3_LIFECYCLE_NONCURRENT_DAYS", location))
    return verdict(problems, "lifecycle rule with filter")


@check("s3.local_endpoint", SECTION, "Every call goes to an explicit endpoint, never real AWS.", catches="staging writing into a real AWS account")
def local_endpoint(ctx: CheckContext):
    text, rel = _script(ctx)
    problems = []
    if not re.search(r"endpoint[-_]url", text):
        problems.append(("no --endpoint-url / endpoint_url", rel))
    if "amazonaws.com" in text:
        problems.append(("mentions amazonaws.com", f"{rel}:{_line(text, re.compile('amazonaws'))}"))
    return verdict(problems, "explicit local endpoint")
