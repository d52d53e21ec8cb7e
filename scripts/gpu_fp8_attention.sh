#!/usr/bin/env bash
# The 8-bit attention on the lent H200 (device tool): its GPU checks, the attention suite at the video shapes,
# a profile of the forward with FP8 GEMMs at 512x768x121, then `ltx bench e2e-compiled` (with its FP8 variants).
set -uo pipefail
source scripts/gpu_env.sh
python3 -m pytest -q -m gpu tests/test_kernels.py tests/test_train.py -k "fp8 or offload" -p no:cacheprovider 2>&1 \
  | tail -6 | tee "$OUT/gpu_tests.txt"
python3 - <<PY 2>&1 | grep -v "^{" | tee "$OUT/attention.txt"
from pathlib import Path
from ltx.bench import environment, kernels, table, write
wanted = ("video self 6144", "video self 24576", "video text 24576x1024")
kernels.ATTENTION_CASES = [c for c in kernels.ATTENTION_CASES if c[0] in wanted]
rows = kernels.attention()
print(table(rows))
write(Path("$OUT"), "attention", environment(), rows)
PY
python3 bench/profile_e2e.py --size 512x768x121 --fp8 2>&1 | tee "$OUT/profile-fp8-512.txt" | head -14
python3 -m bench e2e-compiled --out "$OUT" 2>&1 | tee "$OUT/e2e.txt" | grep -v "^{" | tail -30
