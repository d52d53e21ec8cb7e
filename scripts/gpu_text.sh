#!/usr/bin/env bash
# The text side on the lent GPU (device tool), run from the repository root: full-size random text
# sides (19B: v1 projection + 2-block connectors; 22B: v2 projections + 8-block gated connectors) in
# float32 and bf16 against ltx-core on Gemma-3-12B-sized synthetic hidden states (1024 tokens, a batch
# of two lengths), and the built-in tiny Gemma-3 and T5 end to end on CUDA. Outputs go to $OUT.
set -euo pipefail
source scripts/gpu_env.sh
DATA=${DATA:-$PWD/.data}; mkdir -p "$DATA"
for name in ltx-2-19b ltx-2.3-22b; do
  python3 scripts/make_random_checkpoint.py "$name.text" "$DATA/$name-text.safetensors" --device cuda
  for dtype in float32 bfloat16; do
    python3 -m ltx.cli parity "$DATA/$name-text.safetensors" --parts text --device cuda --dtype $dtype \
      --json "$OUT/parity-$name-text-$dtype.json" > "$OUT/parity-$name-text-$dtype.txt" || echo "FAILED: $name $dtype"
    tail -3 "$OUT/parity-$name-text-$dtype.txt"
  done
done
python3 -m ltx.cli parity --parts text,gemma,t5 --device cuda --json "$OUT/parity-tiny-text-cuda.json" \
  > "$OUT/parity-tiny-text-cuda.txt" || echo "FAILED: tiny text on cuda"
tail -3 "$OUT/parity-tiny-text-cuda.txt"
