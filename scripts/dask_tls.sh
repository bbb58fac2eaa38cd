#!/usr/bin/env bash
# TLS for a Dask cluster that grades: a private CA, one certificate it signs for the scheduler, the workers and
# the client, and the Dask configuration that uses them (the README's "Grading on a cluster").
# Usage: bash scripts/dask_tls.sh DIR   (DIR: a folder every node sees at the same path, in your home for example)
# Then: mkdir -p ~/.config/dask && cp DIR/distributed.yaml ~/.config/dask/
set -euo pipefail
dir=$(realpath -m "${1:?usage: bash scripts/dask_tls.sh DIR}")
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -days 365 -subj "/CN=attention-grader CA" -out ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
openssl req -new -key key.pem -subj "/CN=attention-grader" \
    | openssl x509 -req -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -out cert.pem 2>/dev/null
# Without the CA's key no one can make another certificate this cluster accepts.
rm ca-key.pem ca.srl
cat > distributed.yaml <<EOF
distributed:
  comm:
    require-encryption: true
    tls:
      ca-file: $dir/ca.pem
      scheduler: {cert: $dir/cert.pem, key: $dir/key.pem}
      worker: {cert: $dir/cert.pem, key: $dir/key.pem}
      client: {cert: $dir/cert.pem, key: $dir/key.pem}
EOF
echo "wrote $dir/distributed.yaml: copy it to ~/.config/dask/"
