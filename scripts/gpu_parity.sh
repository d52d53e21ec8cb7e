#!/usr/bin/env bash
# Full-size parity on the lent GPU (device tool), run from the repository root:
#   random full-size bf16 checkpoints in the official layout -> ltx parity --device cuda --dtype bfloat16
# The GPU image has torch, transformers and safetensors; the official packages travel as wheels in
# .whl/ (see the device README). Outputs go to $OUT.
set -euo pipefail
source scripts/gpu_env.sh
DATA=${DATA:-$PWD/.data}; mkdir -p "$DATA"
df -h "$DATA" | tail -1
for spec in ${SPECS:-"ltx-2-19b.transformer:48"}; do
  name=${spec%%:*}; layers=${spec##*:}
  file="$DATA/$name-$layers.safetensors"
  layer_arg=""; [ "$layers" != "all" ] && layer_arg="--layers $layers"
  python3 scripts/make_random_checkpoint.py "$name" "$file" $layer_arg --device cuda
  python3 -m ltx.cli parity "$file" --device cuda --dtype bfloat16 --frames 25 --height 256 --width 384 ${PARITY_ARGS:-} \
    --json "$OUT/parity-$name-$layers-bf16.json" > "$OUT/parity-$name-$layers-bf16.txt" || echo "parity FAILED for $name"
  tail -4 "$OUT/parity-$name-$layers-bf16.txt"
  rm -f "$file"
done
