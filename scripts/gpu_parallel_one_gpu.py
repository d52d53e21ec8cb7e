"""`ltx bench parallel` rehearsed on the one lent GPU (device tool): N processes share cuda:0 and exchange through gloo
(which moves CUDA tensors by way of host memory) where several GPUs would use NCCL. It runs the GPU code paths of
`ltx.parallel` at full size (the 19B in bf16, our kernels on each process's share of the tokens and heads, CUDA tensors
through every all-to-all, all-gather and broadcast) and reports each layout's output error against one process. The
times are no measure of scaling (the processes share one GPU and the exchanges go through the host): not reported.

    python scripts/gpu_parallel_one_gpu.py --out $OUT/parallel-one-gpu.json [--world 2] [--sizes 512x768x121,...]
    python scripts/gpu_parallel_one_gpu.py --device cpu --out /tmp/p.json   # a check of the script (tiny model)
"""

from __future__ import annotations

import argparse
import json
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world: int, port: int, device: str, sizes: dict, out: str) -> None:
    env = {"RANK": rank, "WORLD_SIZE": world, "LOCAL_RANK": 0, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    os.environ.update({k: str(v) for k, v in env.items()})  # (LOCAL_RANK 0: every process on cuda:0)
    dist.init_process_group("gloo")  # (ltx.parallel.init finds it started and makes its groups on it)
    from ltx.bench.parallel import run
    from ltx.config import LTX2_19B

    cfg = LTX2_19B
    if device == "cpu":
        from ltx.parity.fixtures import TINY

        cfg, sizes = TINY["ltx-2.0-tiny"].transformer, {"tiny": (9, 64, 96)}
    rows = run(sizes, repeats=1, cfg=cfg, device=device)
    if rank == 0:
        keep = ("case", "peer", "world", "rel_err_vs_1_gpu")
        rows = [{k: r[k] for k in keep if k in r} for r in rows]
        run_on = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
                  "backend": "gloo, every process on cuda:0" if device == "cuda" else "gloo (cpu)"}  # fmt: skip
        with open(out, "w") as f:
            json.dump({**run_on, "rows": rows}, f, indent=1)
        for r in rows:
            print(r, flush=True)
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--world", type=int, default=2, choices=(2, 4), help="4: CPU only (four 19B outgrow a GPU)")
    p.add_argument("--sizes", default="512x768x121,1024x1536x121")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    a = p.parse_args()
    from ltx.bench.e2e import SIZES

    if a.device == "cuda" and a.world > 2:
        p.error(f"--world {a.world}: {a.world} copies of the 19B (38 GB each) do not fit on one GPU; use 2")
    unknown = [s for s in a.sizes.split(",") if s not in SIZES]
    if unknown:
        p.error(f"--sizes: {', '.join(unknown)} not among {', '.join(SIZES)}")
    sizes = {s: SIZES[s] for s in a.sizes.split(",")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(a.world, port, a.device, sizes, a.out), nprocs=a.world)


if __name__ == "__main__":
    main()
