#!/usr/bin/env bash
# The GPU check in one go, under 8 minutes on one GPU: the `gpu` test group (tests/test_gpu.py),
# then BERT-base pre-training samples/s and MFU per schema, fine-tuning and encoding throughput
# (bench/gpu.py) -> bench/results/<gpu name>.json, which `python -m qcpt plan` reads.
#
#   bash bench/gpu.sh [OUT.json]
#
# Each part has its own time limit (3.5 + 4 minutes); the JSON records the tests' summary and status.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
tests_log="$(mktemp "${TMPDIR:-/tmp}/qcpt-gpu-tests.XXXXXX")"
timeout 210 python -m pytest -m gpu -q -rs -p no:cacheprovider tests/test_gpu.py >"$tests_log" 2>&1
tests_status=$?
tail -n 15 "$tests_log"
timeout 240 python bench/gpu.py --tests-log "$tests_log" --tests-status "$tests_status" ${1:+--out "$1"}
bench_status=$?
rm -f "$tests_log"
# the tests' status wins: a failing GPU test is the first thing to look at
if [ "$tests_status" -ne 0 ]; then exit "$tests_status"; fi
exit "$bench_status"
