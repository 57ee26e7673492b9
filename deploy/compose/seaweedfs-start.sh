#!/bin/sh
# SeaweedFS for the compose stack: one process (`weed mini`: master, volume, filer, S3) with
# one S3 identity from the environment. Object Lock works on buckets created with it enabled
# (compose/s3-init.sh does that).
set -eu
umask 077
mkdir -p /data/weed
cat >/data/s3.json <<JSON
{"identities":[{"name":"vidid",
  "credentials":[{"accessKey":"${S3_ACCESS_KEY}","secretKey":"${S3_SECRET_KEY}"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
exec /usr/bin/weed mini -dir=/data/weed -ip=s3 -ip.bind=0.0.0.0 -s3.port=8333 \
  -s3.config=/data/s3.json -admin.ui=false -webdav=false -master.telemetry=false
