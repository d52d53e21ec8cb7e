#!/usr/bin/env bash
# The 19B LoRA training step (rank 32) beside ltx-trainer 1.2.0's, composed from the wheels (device tool):
# `ltx bench train` at 512x768x49 and x121, gradient checkpointing on and off.
set -euo pipefail
source scripts/gpu_env.sh
python3 -c "import peft; print('peft', peft.__version__)"
python3 -m bench train --out "$OUT" 2>&1 | tee "$OUT/bench.txt" | tail -30
