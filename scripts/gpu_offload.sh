#!/usr/bin/env bash
# Block streaming on the lent GPU (device tool): the GPU test (streamed = resident, bitwise, at the 19B's width),
# then `ltx bench offload` (19B under 24 / 12 GiB beside the resident model and ltx-core 1.2.0's --offload cpu).
set -euo pipefail
source scripts/gpu_env.sh
python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q --no-index --find-links .whl --target /tmp/site pytest || true
(python3 -m pytest -q -m gpu tests/test_offload.py -p no:cacheprovider 2>&1 || true) | tail -5 | tee "$OUT/gpu_tests.txt"
free -g | head -2
PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python3 -m bench offload --out "$OUT" 2>&1 | tee "$OUT/bench.txt" | tail -40
