#!/usr/bin/env bash
# Runs the simulator on an embedded etcd and the exporter reading it, until
# interrupted. Used by `make run`; needs nothing but the two binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPORTER_ARGS=("$@")

./servicecomb_simulator --embedded --embedded.listen-address 127.0.0.1:23790 \
  --domains 4 --projects 2 --services 6 --instances 3 --churn.rate 10 --lease-ttl 20s &
simulator=$!
trap 'kill -INT "$simulator" 2>/dev/null; wait "$simulator" 2>/dev/null || true' EXIT INT TERM

echo "exporter: http://localhost:9729/  (metrics at /metrics; Ctrl-C stops both)" >&2
./servicecomb_exporter --config.file examples/simulator.yml "${EXPORTER_ARGS[@]}"
