#!/usr/bin/env bash
# ltx.parallel on a multi-GPU kind (device tool: nvidia-h200-x2 or -x4): `ltx bench parallel` under torchrun on
# 8, 4 and 2 of the machine's GPUs, as many as it has (the 1-GPU baseline in each job).
# NVLink multicast stays off (KINDS.md).
set -euo pipefail
source scripts/gpu_env.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
n=$(nvidia-smi -L | wc -l)
for world in 8 4 2; do  # (powers of two: the 32 heads divide, so Ulysses runs, not the gathered fallback)
  [ "$world" -le "$n" ] || continue
  python3 -m torch.distributed.run --nproc-per-node "$world" -m ltx bench parallel --out "$OUT/$world-gpus" 2>&1 \
    | grep -v "^{" | tee "$OUT/bench-$world-gpus.txt" | tail -20
done
