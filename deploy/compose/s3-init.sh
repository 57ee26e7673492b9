#!/bin/sh
# Creates the recordings bucket with Object Lock enabled (hence versioning) and a COMPLIANCE
# default retention; vidid sets each object's own 20-year retention and reads it back.
# Idempotent: an existing bucket is only checked. Object Lock cannot be switched on later.
set -eu
s3() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }
i=0
until s3 s3api list-buckets >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -le 60 ] || { echo "S3 at $S3_ENDPOINT did not answer" >&2; exit 1; }
  sleep 2
done
if s3 s3api head-bucket --bucket "$S3_BUCKET" >/dev/null 2>&1; then
  echo "bucket $S3_BUCKET exists"
else
  s3 s3api create-bucket --bucket "$S3_BUCKET" --object-lock-enabled-for-bucket
  s3 s3api put-bucket-versioning --bucket "$S3_BUCKET" --versioning-configuration Status=Enabled
  s3 s3api put-object-lock-configuration --bucket "$S3_BUCKET" --object-lock-configuration \
    '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}'
fi
out="$(s3 s3api get-object-lock-configuration --bucket "$S3_BUCKET")"
echo "$out"
echo "$out" | grep -q '"COMPLIANCE"' || { echo "bucket $S3_BUCKET has no COMPLIANCE default retention" >&2; exit 1; }
