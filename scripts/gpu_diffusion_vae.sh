#!/usr/bin/env bash
# LTX-2.5 diffusion video decoder on the lent GPU (device tool), from the repository root:
#   our Triton neighbourhood attention against the PyTorch reference at the full-size decoder's shapes,
#   `ltx parity --parts diffusion_vae` in bf16 on CUDA, and the full-size decode benchmark beside ltx-core 1.2.0.
set -uo pipefail
source scripts/gpu_env.sh
python3 - <<'PY' 2>&1 | tee "$OUT/na-kernel-checks.txt"
import json, sys, torch
sys.path.insert(0, "tests")
from kernel_checks import na_checks
cases = [(1, 17, 64, 96, 2, 64, (3, 7, 7)), (2, 9, 24, 40, 16, 64, (3, 7, 7)), (1, 33, 40, 24, 4, 64, (3, 5, 5))]
for dtype in (torch.bfloat16, torch.float16, torch.float32):
    for r in na_checks("cuda", dtype, cases):
        r["pass"] = r["finite"] and r["rel"] <= 2 * r["torch_rel"] + 1e-3 and r["wrong_rel"] > 10 * r["rel"]
        print(json.dumps(r))
PY
python3 -m ltx.cli parity --parts diffusion_vae --device cuda --dtype bfloat16 --json "$OUT/parity-diffusion-vae-bf16.json" \
  > "$OUT/parity-diffusion-vae-bf16.txt" 2>&1; tail -3 "$OUT/parity-diffusion-vae-bf16.txt"
timeout ${BENCH_TIMEOUT:-420} python3 bench/diffusion_decode.py "$OUT/diffusion_decode.json" ${BENCH_ARGS:-} 2>&1 | tail -30
