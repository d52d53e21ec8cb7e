#!/usr/bin/env bash
# LTX-Video on the lent GPU (device tool): the transformer forward (2B, 13B) and the 2B generation beside ltx-video
# 0.1.2 and diffusers, results under $OUT. Usage: SUITES="ltxv-forward ltxv-generate" bash scripts/gpu_ltxv.sh
set -euo pipefail
source scripts/gpu_env.sh
python3 -m bench ${SUITES:-ltxv-forward ltxv-generate} --out "$OUT" 2>&1 | grep -v "^{" | tee "$OUT/bench.txt" | tail -60
