"""The 19B on several GPUs (`torchrun --nproc-per-node N -m ltx bench parallel --out DIR`; scripts/gpu_parallel.sh).

In one job of N processes: first the first process alone runs the plain model (the 1-GPU baseline, the others
wait), then every process runs `ltx.parallel` layouts of N: one forward (batch 1) with sequence parallelism over
all N, and a guided step (CFG + STG + modality isolation: four passes) with the passes dealt out (cfg=N), with
sequence parallelism (sp=N), and with both (sp=2, cfg=2 on 4). Random bf16 weights, the same on every process
(seeded). Rows (first process only): median seconds, the speed-up over one GPU, the output's rel error to it.
"""

from __future__ import annotations

import os

import torch

from ltx.bench.e2e import SIZES, inputs, timed


def _model(cfg, device):
    from ltx.dit import LTX2Transformer
    from ltx.testing import fill_random

    with torch.device("meta"):
        model = LTX2Transformer(cfg)
    generator = torch.Generator(device).manual_seed(0)
    # bf16 from the start, never a float32 copy (scripts/gpu_parallel_one_gpu.py puts two 19B on one GPU)
    return fill_random(model.to(torch.bfloat16).to_empty(device=device), generator)


def _step(model, video, audio):
    """One guided step's x0 (four passes) through the Denoiser, as the pipelines run it."""
    from ltx.sampling.denoise import Denoiser
    from ltx.sampling.guidance import Guidance
    from ltx.sampling.state import LatentState

    guidance = Guidance(cfg=3.0, stg=1.0, stg_blocks=(1,), modality=3.0)
    denoiser = Denoiser(model, video.context, audio.context, guidance, guidance, video.context.flip(1),
                        audio.context.flip(1))  # fmt: skip
    b = video.latent.shape[0]
    ones = lambda s: torch.ones(b, s.latent.shape[1], 1, device=s.latent.device)  # noqa: E731
    vs = LatentState(video.latent, ones(video), video.positions, video.latent, (1,))
    as_ = LatentState(audio.latent, ones(audio), audio.positions, audio.latent, (1,))
    sigmas = torch.tensor([0.7, 0.0], device=video.latent.device)
    return lambda: denoiser(vs, as_, sigmas, 0)


def _layouts(world: int) -> dict:
    from ltx.parallel import Layout

    out = {"forward": [Layout(sp=world)], "guided step": [Layout(cfg=world), Layout(sp=world)]}
    if world == 4:
        out["guided step"].append(Layout(sp=2, cfg=2))
    return out


def run(sizes=None, repeats: int = 3, cfg=None, device: str | None = None) -> list[dict]:
    import torch.distributed as dist

    from ltx.config import LTX2_19B
    from ltx.parallel import Layout, Parallel, init, local_device

    cfg, sizes = cfg or LTX2_19B, sizes or SIZES
    world = int(os.environ.get("WORLD_SIZE", "1"))
    groups = init(Layout(sp=world), device=device) if world > 1 or "RANK" in os.environ else None
    device = local_device(device)
    first = groups is None or groups.rank == 0
    model = _model(cfg, device)
    rows, base = [], {}
    made = {}  # the process groups of each layout, made once (every process in the same order)
    for layouts in _layouts(world).values() if groups is not None else ():
        for layout in layouts:
            if layout not in made:
                made[layout] = init(layout, device=device)
    for size, shape in sizes.items():
        video, audio = inputs(cfg, *shape, device)
        work = {"forward": lambda m, v=video, a=audio: (lambda: m(v, a)), "guided step": lambda m, v=video,
                a=audio: _step(m, v, a)}  # fmt: skip
        with torch.inference_mode():
            if first:  # the 1-GPU baseline, the others waiting
                for case, make in work.items():
                    seconds, _, out = timed(make(model), repeats)
                    base[(size, case)] = (seconds, out[0].float())
                    rows.append({"case": f"{size} {case}", "peer": "ours, 1 GPU", "seconds": seconds, "world": 1})
                    print(rows[-1], flush=True)
            if groups is not None:
                dist.barrier()
            for case, layouts in _layouts(world).items() if groups is not None else ():
                for layout in layouts:
                    parallel = Parallel(model, made[layout])
                    seconds, _, out = timed(work[case](parallel), repeats)
                    parallel.close()
                    if first:
                        one, ref = base[(size, case)]
                        err = float((out[0].float() - ref).norm() / ref.norm())
                        rows.append({"case": f"{size} {case}", "peer": f"ours, sp={layout.sp} cfg={layout.cfg}",
                                     "seconds": seconds, "world": world, "speedup_vs_1_gpu": one / seconds,
                                     "rel_err_vs_1_gpu": err})  # fmt: skip
                        print(rows[-1], flush=True)
    return rows
