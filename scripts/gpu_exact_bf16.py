"""Is the exact mode bitwise the official code in bf16 on the GPU? (device tool; the CPU side is in the tests)

Our transformer and ltx-core 1.2.0's hold the very same tensors (`ltx.bench.e2e.build`), run one forward with
the reference ops (`ltx_kernels.use(mode="reference")`), and every module with parameters is hooked on both sides by
its state-dict name (the two share them): the first module, in the official call order, whose output differs is
printed with the error (`ltx.parity.hooks.capture`). `--pipeline FILE` follows bench/pipeline_e2e.py's one-stage
run on FILE instead: every video-encoder and transformer call of both flows recorded (the encoder's input and latent;
the transformer's inputs, field by field, and its velocities), to find the first call, and the first input, where the
two part.

    python scripts/gpu_exact_bf16.py [--full]     # --full: the 19B at 512x768x121 too
    python scripts/gpu_exact_bf16.py --pipeline .data/ltx-2-19b-full.safetensors --steps 2
    python scripts/gpu_exact_bf16.py --pipeline tiny     # the built-in tiny 2.0 file, at 512x768x121
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ltx_kernels
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.bench.e2e import build, inputs  # noqa: E402
from ltx.parity.hooks import capture  # noqa: E402
from ltx.parity.oracle import modality  # noqa: E402


def _compared(name: str, module, blocks: int) -> bool:
    """Modules with parameters of their own (the names the two sides share), outside the blocks or in the first
    `blocks` (the 19B's every output would not fit twice), not the blocks themselves (their outputs differ in kind)."""
    parts = name.split(".")
    in_block = parts[0] == "transformer_blocks" and len(parts) > 1
    if in_block and (len(parts) == 2 or int(parts[1]) >= blocks):
        return False
    return bool(name) and any(True for _ in module.parameters(recurse=False))


def compare_forward(cfg, size, label, device, blocks: int = 10**6):
    ours, official = build(cfg, device)
    video, audio = inputs(cfg, *size, device, text_tokens=128)
    mv, ma = modality(video), modality(audio)
    names = [n for n, m in official.named_modules() if _compared(n, m, blocks)]
    with ltx_kernels.use(mode="reference"):  # (capture: the first output of each, in call order, then the velocity)
        own = dict(ours.named_modules())
        got = capture(ours, [n for n in names if n in own], lambda: ours(video, audio)[0], "")
        ref = capture(official, names, lambda: official(video=mv, audio=ma, perturbations=None)[0], "")
    print(f"{label} video velocity: equal={torch.equal(got['/out'], ref['/out'])}")
    differing = [n for n in ref if n in got and not torch.equal(got[n], ref[n])]
    missing = [n for n in ref if n not in got]
    print(f"{label}: {len(ref) - 1} modules compared, {len(differing)} differ, {len(missing)} not called on our side")
    for n in differing[:6]:
        o, r = got[n], ref[n]
        err = float((o - r).abs().max()) if o.shape == r.shape else float("nan")
        print(f"  differs: {n} {tuple(r.shape)} ours {tuple(o.shape)}, max abs {err:.3e}")


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
    if a.full:
        from ltx.config import LTX2_19B

        torch.cuda.empty_cache()  # (the tiny models' cache)
        compare_forward(LTX2_19B, (121, 512, 768), "19B 512x768x121", torch.device(a.device), blocks=3)


if __name__ == "__main__":
    main()
