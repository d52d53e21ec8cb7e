#!/usr/bin/env bash
# Full-size one-stage generation on the lent GPU (device tool): a random 19B checkpoint with every
# component (transformer, VAE, audio VAE, vocoder, text side; bf16), then bench/pipeline_e2e.py (ours
# beside the official ltx-pipelines flow, same inputs). Outputs go to $OUT. STEPS=N; SIDES="name|name" a subset.
set -euo pipefail
source scripts/gpu_env.sh
DATA=${DATA:-$PWD/.data}; mkdir -p "$DATA"
FILE=${FILE:-$DATA/ltx-2-19b-full.safetensors}  # FILE=tiny: the built-in tiny file at the same size (seconds)
[ "$FILE" = tiny ] || [ -f "$FILE" ] || python3 scripts/make_random_checkpoint.py \
  "ltx-2-19b.transformer+ltx-2.vae+ltx-2.audio_vae+ltx-2.vocoder+ltx-2-19b.text" "$FILE" --device cuda
python3 bench/pipeline_e2e.py "$FILE" --steps ${STEPS:-8} ${SIDES:+--sides "$SIDES"} --json "$OUT/pipeline_e2e.json" 2>&1 | grep -v "it/s\]" | tail -60
