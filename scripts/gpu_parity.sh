#!/usr/bin/env bash
# Full-size parity on the lent GPU (device tool), run from the repository root:
#   random full-size bf16 checkpoints in the official layout -> ltx parity --device cuda --dtype bfloat16
# The GPU image has torch, transformers and safetensors; the official packages travel as wheels in
# .whl/ (see the device README). Outputs go to $OUT.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
mkdir -p /tmp/lk && ln -sfn "$PWD/kernels" /tmp/lk/ltx_kernels   # the import name setup.py gives kernels/
export PYTHONPATH=/tmp/site:/tmp/lk:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; DATA=${DATA:-$PWD/.data}; mkdir -p "$OUT" "$DATA"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
df -h "$DATA" | tail -1
for spec in ${SPECS:-"ltx-2-19b:48"}; do
  name=${spec%%:*}; layers=${spec##*:}
  file="$DATA/$name-$layers.safetensors"
  python3 scripts/make_random_checkpoint.py "$name" "$file" --layers "$layers" --device cuda
  python3 -m ltx.cli parity "$file" --device cuda --dtype bfloat16 --frames 25 --height 256 --width 384 \
    --json "$OUT/parity-$name-$layers-bf16.json" > "$OUT/parity-$name-$layers-bf16.txt" || echo "parity FAILED for $name"
  tail -4 "$OUT/parity-$name-$layers-bf16.txt"
  rm -f "$file"
done
