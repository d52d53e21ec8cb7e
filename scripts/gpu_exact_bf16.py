"""Is the exact mode bitwise the official code in bf16 on the GPU? (device tool; the CPU side is in the tests)

Our transformer and ltx-core 1.2.0's hold the very same tensors (`ltx.bench.e2e.build`), run one forward with
the reference ops (`ltx_kernels.use(mode="reference")`), and every module with parameters is hooked on both sides by
its state-dict name (the two share them): the first module, in the official call order, whose output differs is
printed with the error. Then the tiny one-stage pipeline, ours vs the ltx-pipelines flow, on the GPU.
`--pipeline FILE` follows bench/pipeline_e2e.py's one-stage run on FILE instead: every video-encoder and transformer
call of both flows recorded (the encoder's input and latent; the transformer's inputs, field by field, and its
velocities), to find the first call, and the first input, where the two part.

    python scripts/gpu_exact_bf16.py [--full]     # --full: the 19B at 512x768x121 too
    python scripts/gpu_exact_bf16.py --pipeline .data/ltx-2-19b-full.safetensors --steps 2
    python scripts/gpu_exact_bf16.py --pipeline tiny     # the built-in tiny 2.0 file, at 512x768x121
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import ltx_kernels
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.bench.e2e import build, inputs  # noqa: E402
from ltx.parity.oracle import modality  # noqa: E402


def _hooked(name: str, blocks: int) -> bool:
    """Modules outside the blocks, and those of the first `blocks` (the 19B's every output would not fit twice)."""
    parts = name.split(".")
    return parts[0] != "transformer_blocks" or len(parts) < 2 or int(parts[1]) < blocks


def record(model, blocks: int = 10**6):
    seen: dict[str, torch.Tensor] = {}
    order: list[str] = []

    def hook(name):
        def fn(module, args, out):
            if name in seen:
                return
            t = out[0] if isinstance(out, tuple) else out
            t = getattr(t, "x", t)
            if isinstance(t, torch.Tensor):
                seen[name] = t.detach().clone()
                order.append(name)

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if n and _hooked(n, blocks) and any(True for _ in m.parameters(recurse=False))]  # fmt: skip
    return seen, order, handles


def compare_forward(cfg, size, label, device, blocks: int = 10**6):
    ours, official = build(cfg, device)
    video, audio = inputs(cfg, *size, device, text_tokens=128)
    mv, ma = modality(video), modality(audio)
    o_seen, _, oh = record(ours, blocks)
    r_seen, r_order, rh = record(official, blocks)
    with torch.inference_mode(), ltx_kernels.use(mode="reference"):
        out = ours(video, audio)
        ref = official(video=mv, audio=ma, perturbations=None)
    for h in oh + rh:
        h.remove()
    for name, o, r in (("velocity.video", out[0], ref[0]), ("velocity.audio", out[1], ref[1])):
        print(f"{label} {name}: equal={torch.equal(o, r)} max abs {float((o.float() - r.float()).abs().max()):.3e}")
    differing = [n for n in r_order if n in o_seen and not torch.equal(o_seen[n], r_seen[n])]
    missing = [n for n in r_order if n not in o_seen]
    print(f"{label}: {len(r_order)} hooked modules, {len(differing)} differ, {len(missing)} not called on our side")
    for n in differing[:6]:
        o, r = o_seen[n], r_seen[n]
        same_shape = o.shape == r.shape
        err = float((o.float() - r.float()).abs().max()) if same_shape else float("nan")
        print(f"  first differing: {n} {tuple(r.shape)} ours {tuple(o.shape)} stride {o.stride()} vs {r.stride()} "
              f"max abs {err:.3e}")  # fmt: skip
    del ours, official
    if device.type == "cuda":
        torch.cuda.empty_cache()


def compare_pipeline(device):
    from ltx.parity.pipelines import builtin_inputs, run_official, run_ours

    with tempfile.TemporaryDirectory() as tmp:
        inp = builtin_inputs(Path(tmp) / "ltx-2.0-tiny", "ltx-2.0-tiny")
        with ltx_kernels.use(mode="reference"):
            ours = run_ours("one-stage", inp, torch.bfloat16, device=device.type)
            ref = run_official("one-stage", inp, torch.bfloat16, device=device.type)
        for k in ref:
            print(f"tiny one-stage {k}: equal={torch.equal(ours[k], ref[k])} "
                  f"max abs {float((ours[k].float() - ref[k].float()).abs().max()):.3e}")  # fmt: skip


FIELDS = ("latent", "sigma", "timesteps", "positions", "context", "context_mask", "attention_mask", "keyframes_mask")


def trace_calls(cls, calls: list):
    """Wrap cls.forward to append (inputs per stream and field, velocities) of every call, on the CPU."""
    forward = cls.forward

    def wrapped(self, video=None, audio=None, perturbations=None, **kwargs):
        out = forward(self, video, audio, perturbations, **kwargs)
        streams = {n: s for n, s in (("video", video), ("audio", audio)) if s is not None}
        fields = {f"{n}.{f}": keep_cpu(getattr(s, f, None)) for n, s in streams.items() for f in FIELDS}
        calls.append((fields, {"velocity.video": keep_cpu(out[0]), "velocity.audio": keep_cpu(out[1])}))
        return out

    cls.forward = wrapped
    return forward


def trace_io(cls, calls: list, label: str):
    """Wrap cls.forward to append ({label.input}, {label.output}) of every call (a VAE encoder: x in, latent out)."""
    forward = cls.forward

    def wrapped(self, x, *args, **kwargs):
        out = forward(self, x, *args, **kwargs)
        calls.append(({f"{label}.input": keep_cpu(x)}, {f"{label}.output": keep_cpu(out)}))
        return out

    cls.forward = wrapped
    return forward


def compare_pipeline_calls(checkpoint: Path, steps: int, device: str):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from pipeline_e2e import setup

    from ltx.dit import LTX2Transformer
    from ltx.parity.oracle import require
    from ltx.parity.pipelines import run_official, run_ours
    from ltx.vae.video import VideoEncoder

    official_cls = require("ltx_core.model.transformer.model").LTXModel
    official_encoder = require("ltx_core.model.video_vae.video_vae").VideoEncoder
    inputs, req = setup(checkpoint, 121, 512, 768, steps)
    ours_calls, official_calls = [], []
    sides = ((LTX2Transformer, VideoEncoder, ours_calls, run_ours),
             (official_cls, official_encoder, official_calls, run_official))  # fmt: skip
    for cls, encoder, calls, runner in sides:
        original, original_encoder = trace_calls(cls, calls), trace_io(encoder, calls, "video encoder")
        try:
            with ltx_kernels.use(mode="reference"):
                outs = runner("one-stage", inputs, torch.bfloat16, req, device)
        finally:
            cls.forward, encoder.forward = original, original_encoder
        calls.append(({}, {k: keep_cpu(v) for k, v in outs.items()}))
    print(f"calls: ours {len(ours_calls) - 1}, official {len(official_calls) - 1}")
    for i, ((fo, oo), (fr, orf)) in enumerate(zip(ours_calls, official_calls, strict=False)):
        label = f"call {i} ({next(iter(fr)).split('.')[0]})" if fr else "outputs"
        for name in sorted(set(fo) | set(fr) | set(oo) | set(orf)):
            a, b = {**fo, **oo}.get(name), {**fr, **orf}.get(name)
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
                same = a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
                if not same:
                    err = float((a.float() - b.float()).abs().max()) if a.shape == b.shape else float("nan")
                    print(f"  {label} {name}: differs {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}, "
                          f"max abs {err:.3e}")  # fmt: skip
            elif (a is None) != (b is None) and not (name.endswith("_mask") or name.endswith("sigma")):
                print(f"  {label} {name}: ours {type(a).__name__}, official {type(b).__name__}")
        print(f"{label}: compared")


def keep_cpu(t):
    return t.detach().to("cpu", copy=True) if isinstance(t, torch.Tensor) else t


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true")
    p.add_argument("--device", default="cuda", help="cpu: a check of the script (bitwise there, the tests say)")
    p.add_argument("--pipeline", type=Path, help="trace bench/pipeline_e2e.py's one-stage run on this file (or tiny)")
    p.add_argument("--steps", type=int, default=2)
    a = p.parse_args()
    if a.pipeline:
        return compare_pipeline_calls(a.pipeline, a.steps, a.device)
    from ltx.parity.fixtures import TINY

    for name in ("ltx-2.0-tiny",):  # (2.3 takes the connectors' width, not caption_channels)
        compare_forward(TINY[name].transformer, (17, 128, 192), name, torch.device(a.device))
    compare_pipeline(torch.device(a.device))
    if a.full:
        from ltx.config import LTX2_19B

        compare_forward(LTX2_19B, (121, 512, 768), "19B 512x768x121", torch.device(a.device), blocks=3)


if __name__ == "__main__":
    main()
