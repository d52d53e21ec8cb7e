#!/usr/bin/env bash
# ltx.parallel on a multi-GPU kind (device tool: nvidia-h200-x2 or -x4): `ltx bench parallel` under torchrun on
# every GPU of the machine (the 1-GPU baseline in the same job), then on 2 of them where there are 4.
# NVLink multicast stays off (KINDS.md).
set -euo pipefail
source scripts/gpu_env.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
n=$(nvidia-smi -L | wc -l)
for world in $(seq "$n" -2 2); do
  python3 -m torch.distributed.run --nproc-per-node "$world" -m ltx bench parallel --out "$OUT/$world-gpus" 2>&1 \
    | grep -v "^{" | tee "$OUT/bench-$world-gpus.txt" | tail -20
done
