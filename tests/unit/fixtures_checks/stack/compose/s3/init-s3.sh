#!/usr/bin/env bash
# Rendered by stagectl render — do not edit. Creates the staging bucket on the S3 stand-in.
set -euo pipefail
endpoint="${S3_ENDPOINT_URL:-http://127.0.0.1:4566}"
bucket="${S3_BUCKET_NAME:?S3_BUCKET_NAME is required}"
s3api() { aws --endpoint-url "$endpoint" s3api "$@"; }

s3api create-bucket --bucket "$bucket" || true
s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
origins=$(printf '"%s",' ${S3_CORS_ORIGINS//,/ }); origins="[${origins%,}]"
s3api put-bucket-cors --bucket "$bucket" --cors-configuration "{\"CORSRules\":[{\"AllowedOrigins\":$origins,\"AllowedMethods\":[\"GET\",\"PUT\",\"POST\",\"HEAD\"],\"AllowedHeaders\":[\"*\"],\"MaxAgeSeconds\":3000}]}"
s3api put-bucket-lifecycle-configuration --bucket "$bucket" --lifecycle-configuration "{\"Rules\":[{\"ID\":\"expire-noncurrent\",\"Status\":\"Enabled\",\"Filter\":{\"Prefix\":\"\"},\"NoncurrentVersionExpiration\":{\"NoncurrentDays\":${S3_LIFECYCLE_NONCURRENT_DAYS:-30}}}]}"
