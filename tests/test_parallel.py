"""ltx.parallel on the CPU: 2 and 4 processes over gloo give what one process gives (float32, tiny random models).

Each case spawns its processes; every process builds the same model and inputs from seeds, runs them through
`Parallel`, and the first writes its outputs; the test compares them with a plain single-process run."""

import dataclasses
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from ltx.parallel import Layout, shares


def _config(heads: int):
    """ltx-2.3-tiny (5 heads a stream), or with 4 heads a stream (the video width kept, the audio one 16)."""
    from ltx.parity.fixtures import TINY

    cfg = TINY["ltx-2.3-tiny"].transformer
    if heads == cfg.num_attention_heads:
        return cfg
    return dataclasses.replace(cfg, num_attention_heads=heads, attention_head_dim=cfg.inner_dim // heads,
                               audio_num_attention_heads=heads, audio_attention_head_dim=4,
                               audio_cross_attention_dim=4 * heads)  # fmt: skip


def _model(heads: int):
    from ltx.dit import LTX2Transformer
    from ltx.testing import fill_random

    return fill_random(LTX2Transformer(_config(heads)), torch.Generator().manual_seed(0))


def _streams(model, f=3, h=3, w=3, audio_tokens=7, batch=2):
    """Video with per-token timesteps (a conditioned first frame), a self-attention mask and keyframe flags; audio."""
    from ltx.dit import Stream
    from ltx.dit.latents import audio_positions, video_positions

    g = torch.Generator().manual_seed(1)
    t = f * h * w
    sigma = torch.tensor([0.7, 0.4])
    timesteps = sigma.view(-1, 1).expand(batch, t).clone()
    timesteps[:, : h * w] = 0.0
    strengths = torch.rand(batch, t, t, generator=g)
    strengths[strengths < 0.2] = 0.0
    keyframes = torch.zeros(batch, t)
    keyframes[:, : h * w] = 1
    latent = torch.randn(batch, 128, t, generator=g).transpose(1, 2)  # (a view, as the pipelines' latents can be)
    video = Stream(latent, sigma, timesteps, video_positions(f, h, w, 24.0, batch),
                   torch.randn(batch, 6, model._video().text_dim, generator=g), attention_mask=strengths,
                   keyframes_mask=keyframes)  # fmt: skip
    audio = Stream(torch.randn(batch, audio_tokens, 128, generator=g), sigma,
                   sigma.view(-1, 1).expand(batch, audio_tokens), audio_positions(audio_tokens, batch),
                   torch.randn(batch, 6, model._audio().text_dim, generator=g))  # fmt: skip
    return video, audio


def _perturbations():
    from ltx.dit import Perturbation

    return (Perturbation("video_self_attn", blocks=(1,), samples=(1,)), Perturbation("a2v", blocks=(0,)))


def _forward(model, streams, kind):
    video, audio = streams
    if kind == "video-only":
        audio = None
    return model(video, audio, _perturbations() if kind == "perturbed" else ())


def _denoise(model):
    """One guided step (CFG, STG, modality isolation: four passes) of a tiny state."""
    from ltx.sampling.denoise import Denoiser
    from ltx.sampling.guidance import Guidance
    from ltx.sampling.state import LatentState

    video, audio = _streams(model)
    b = video.latent.shape[0]
    g = Guidance(cfg=3.0, stg=1.0, stg_blocks=(1,), modality=2.0)
    denoiser = Denoiser(model, video.context, audio.context, g, g, video.context.flip(1), audio.context.flip(1))
    mask, keyframes = video.timesteps.gt(0).float().unsqueeze(-1), video.keyframes_mask.unsqueeze(-1)
    vs = LatentState(video.latent, mask, video.positions, video.latent, (3, 3, 3), attention=video.attention_mask,
                     keyframes=keyframes)  # fmt: skip
    as_ = LatentState(audio.latent, torch.ones(b, audio.latent.shape[1], 1), audio.positions, audio.latent, (7,))
    return denoiser(vs, as_, torch.tensor([0.7, 0.0]), 0)


def _decode(group, noisy=False):
    """A tiny VAE's tiled decode (18 tiles): LTX-2's, or (`noisy`) a timestep-conditioned one drawing its decode
    noise per tile (LTX-Video 0.9.5's layout)."""
    from ltx.parallel import decode
    from ltx.parity.fixtures import TINY
    from ltx.testing import fill_random
    from ltx.vae.tiling import Tiling, tiled_decode
    from ltx.vae.video import VideoDecoder

    cfg = TINY["ltx-2.0-tiny"].vae
    if noisy:
        cfg = TINY["ltx-video-0.9.1-tiny"].vae
        blocks = tuple((n, {**p, "inject_noise": False}) if n == "res_x" else (n, p) for n, p in cfg.decoder_blocks)
        cfg = cfg.replace(decoder_blocks=blocks)
        assert cfg.timestep_conditioning
    decoder = fill_random(VideoDecoder(cfg), torch.Generator().manual_seed(0))
    latent = torch.randn(1, 128, 3, 4, 6, generator=torch.Generator().manual_seed(1))
    tiling, generator = Tiling(tile_px=96, overlap_px=32, tile_frames=16, overlap_frames=8), torch.Generator()
    generator.manual_seed(2)
    chunks = (
        decode(decoder, latent, tiling, group, generator)
        if group
        else tiled_decode(decoder, latent, tiling, generator=generator)
    )
    return [torch.cat(list(chunks), dim=2), None]


def _ltxv_model(heads: int):
    from ltx.dit.ltxv import LTXVTransformer
    from ltx.parity.ltxv import TINY_LTXV
    from ltx.testing import fill_random

    cfg = TINY_LTXV.replace(heads=heads, head_dim=32 // heads)
    return fill_random(LTXVTransformer(cfg), torch.Generator().manual_seed(0))


def _ltxv(model):
    """A call of LTX-Video's transformer: a key mask, per-token timesteps, a text mask, STG."""
    from ltx.dit.ltxv import STG
    from ltx.pipelines.ltxv_conditions import pixel_positions

    cfg = model.cfg
    g = torch.Generator().manual_seed(1)
    f, h, w, b = 3, 3, 3, 2
    t = f * h * w
    positions = pixel_positions(f, h, w, (8, 32, 32), True).float()[None].expand(b, -1, -1).clone()
    timesteps = torch.full((b, t), 0.6)
    timesteps[:, : h * w] = 0.0
    keys = torch.ones(b, t)
    keys[1, -4:] = 0
    text_mask = torch.ones(b, 5, dtype=torch.long)
    text_mask[0, -2:] = 0
    stg = STG("attention_skip", (1,), (1,))
    return model(torch.randn(b, 128, t, generator=g).transpose(1, 2)[..., : cfg.in_channels], positions,
                 torch.randn(b, 5, cfg.caption_channels, generator=g), timesteps, context_mask=text_mask,
                 attention_mask=keys, stg=stg), None  # fmt: skip


def _worker(rank, world, port, layout, heads, kind, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from ltx.parallel import Parallel, init

    groups = init(layout, backend="gloo")
    if kind == "ltxv":
        model = _ltxv_model(heads)
        with torch.inference_mode():
            torch.save(list(_ltxv(Parallel(model, groups))), f"{out}.{rank}")
        torch.distributed.destroy_process_group()
        return
    if kind.startswith("decode"):
        with torch.inference_mode():
            torch.save(_decode(torch.distributed.group.WORLD, kind == "decode-noisy"), f"{out}.{rank}")
        torch.distributed.destroy_process_group()
        return
    if kind.endswith("-broken"):  # the shares gathered in the wrong order
        import ltx.parallel as parallel

        gather = parallel.gather_tokens
        parallel.gather_tokens = lambda x, sizes, group: gather(x, sizes, group).flip(1)
        kind = kind.removesuffix("-broken")
    if kind.endswith("-broken-heads"):  # the heads handed back to the wrong places after the attention
        import ltx.parallel as parallel

        back = parallel._from_heads
        parallel._from_heads = lambda x, call, w: back(x, call, w).flip(-1)
        kind = kind.removesuffix("-broken-heads")
    model = Parallel(_model(heads), groups)
    with torch.inference_mode():
        got = _denoise(model) if kind == "denoise" else _forward(model, _streams(model), kind)
    torch.save([None if x is None else x.clone() for x in got], f"{out}.{rank}")
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, layout: Layout, heads: int, kind: str):
    out = str(tmp_path / "out")
    mp.spawn(_worker, args=(layout.world, _free_port(), layout, heads, kind, out), nprocs=layout.world)
    torch.set_num_threads(1)  # (as the workers: the same kernels)
    kind = kind.removesuffix("-broken").removesuffix("-broken-heads")
    if kind.startswith("decode"):
        with torch.inference_mode():
            return [torch.load(f"{out}.{r}") for r in range(layout.world)], _decode(None, kind == "decode-noisy")
    if kind == "ltxv":
        model = _ltxv_model(heads)
        with torch.inference_mode():
            return [torch.load(f"{out}.{r}") for r in range(layout.world)], list(_ltxv(model))
    with torch.inference_mode():
        model = _model(heads)
        want = _denoise(model) if kind == "denoise" else _forward(model, _streams(model), kind)
    return [torch.load(f"{out}.{r}") for r in range(layout.world)], want


CASES = [
    # layout, heads (4: Ulysses over 2 or 4; 5: keys and values gathered), what runs
    (Layout(sp=2), 4, "av"),
    (Layout(sp=2), 5, "av"),
    (Layout(sp=2), 4, "perturbed"),
    (Layout(sp=2), 4, "video-only"),
    (Layout(sp=4), 4, "av"),
    (Layout(sp=4), 5, "perturbed"),
    (Layout(cfg=2), 4, "denoise"),
    (Layout(sp=2, cfg=2), 4, "denoise"),
    (Layout(sp=2), 4, "decode"),  # the tiles dealt to 2 and 3 processes: bitwise
    (Layout(cfg=3), 4, "decode"),
    (Layout(sp=2), 4, "decode-noisy"),
    (Layout(sp=2), 2, "ltxv"),  # LTX-Video: 2 heads (Ulysses), 1 head (keys and values gathered)
    (Layout(sp=2), 1, "ltxv"),
]


def _rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x - ref).norm() / ref.norm())


@pytest.mark.parametrize("layout,heads,kind", CASES, ids=lambda c: str(c).replace(" ", ""))
def test_parallel_equals_one_process(tmp_path, layout, heads, kind):
    """Pass parallelism, the decode and LTX-Video's sequence parallelism: bitwise. LTX-2's sequence parallelism:
    within 1e-6 (measured 1.1e-7 .. 4.7e-7), not bitwise on the CPU: the same rows of every linear, norm and
    attention are bitwise, but torch's vectorised sigmoid (LTX-2.3's attention gates) takes a scalar path for a
    tensor's tail, and a share's tensors have other tails than the whole one's."""
    got, want = _run(tmp_path, layout, heads, kind)
    for rank, outputs in enumerate(got):
        for name, x, ref in zip(("video", "audio"), outputs, want, strict=True):
            assert (x is None) == (ref is None), (rank, name)
            if ref is None:
                continue
            assert x.shape == ref.shape and x.dtype == ref.dtype
            if layout.sp == 1 or kind.startswith("decode") or kind == "ltxv":
                assert torch.equal(x, ref), f"rank {rank} {name}: {_rel(x, ref):.2e}"
            assert _rel(x, ref) <= 1e-6, f"rank {rank} {name}: rel {_rel(x, ref):.2e}"


@pytest.mark.parametrize("broken", ["av-broken", "av-broken-heads"])
def test_a_wrong_exchange_is_caught(tmp_path, broken):
    """The shares gathered in the wrong order, or the heads handed back wrongly after the self-attention (the
    comparison above would fail)."""
    got, want = _run(tmp_path, Layout(sp=2), 4, broken)
    assert _rel(got[0][0], want[0]) > 1e-2


def _spread_worker(rank, world, port, out):
    import time
    from types import SimpleNamespace

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    from ltx.parallel import Parallel, init

    parallel = Parallel(None, init(Layout(cfg=world), backend="gloo"))
    passes = {f"pass {k}": (SimpleNamespace(latent=torch.full((2, 3), float(k))), None, ()) for k in range(4)}

    def run(video, audio, perturbations):  # a pass that takes 0.4 s
        time.sleep(0.4)
        return video.latent + 1, None

    start = time.perf_counter()
    got = parallel.spread_passes(passes, run)
    torch.save((time.perf_counter() - start, got), f"{out}.{rank}")
    torch.distributed.destroy_process_group()


def test_passes_run_side_by_side(tmp_path):
    """cfg=2 on four 0.4 s passes: each process runs two while the other runs the other two (~0.8 s, not 1.6 s
    as when a pass waited for the one before it), and every process gets every pass's result."""
    out = str(tmp_path / "spread")
    mp.spawn(_spread_worker, args=(2, _free_port(), out), nprocs=2)
    for rank in range(2):
        seconds, got = torch.load(f"{out}.{rank}")
        assert seconds < 1.2, seconds
        assert {k: v[0][0, 0].item() for k, v in got.items()} == {f"pass {k}": k + 1.0 for k in range(4)}


def test_the_backend_follows_the_device(monkeypatch):
    """NCCL for CUDA, gloo for a CPU run, also on a GPU host."""
    from ltx.parallel import backend_for

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert (backend_for("cpu"), backend_for(None), backend_for("cuda:1")) == ("gloo", "nccl", "nccl")


def test_shares_and_layouts():
    assert shares(27, 4) == [7, 7, 7, 6] and shares(8, 2) == [4, 4]
    with pytest.raises(ValueError, match="3 video tokens cannot be shared by 4 processes"):
        shares(3, 4)
    assert Layout.parse("sp=2,cfg=2") == Layout(2, 2) and Layout.parse("cfg=3").world == 3
    for bad in ("sp=two", "tp=2", "sp=0", "sp=2,sp=4", "", " , "):
        with pytest.raises(ValueError, match="sp|cfg"):
            Layout.parse(bad)


@pytest.mark.oracle
def test_torchrun_generate(tmp_path):
    """`torchrun --nproc-per-node 2 -m ltx generate ... --parallel cfg=2 | sp=2` on a tiny file (gloo on the CPU): the
    first process writes the clip; cfg=2 writes the one-process frames exactly; sp=2's differ by a few levels where
    the tiny random model amplifies its ~1e-7 differences (the forward and step tests above bound those)."""
    pytest.importorskip("ltx_core", reason="the tiny checkpoint is written from the official modules")
    import subprocess
    import sys

    from ltx.cli import main
    from ltx.media import read_video
    from ltx.parity import pipeline_fixtures as fx
    from ltx.parity.fixtures import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint("ltx-2.3-tiny", tmp_path / "tiny.safetensors")
    prompts = fx.write_prompt_file(ckpt, tmp_path / "prompts.safetensors", ["a prompt", "a negative prompt"], 0)
    base = ["generate", "--checkpoint", str(ckpt), "--prompts", str(prompts), "--prompt", "a prompt",
            "--negative-prompt", "a negative prompt", "--device", "cpu", "--dtype", "float32", "--height", "64",
            "--width", "64", "--frames", "9", "--steps", "2", "--stg-blocks", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # (one thread everywhere: the same kernels in every process)
    one = [sys.executable, "-m", "ltx", *base, "--output", str(tmp_path / "one.mp4")]
    assert subprocess.run(one, capture_output=True, env=env).returncode == 0
    want = read_video(tmp_path / "one.mp4").float()
    for spec in ("cfg=2", "sp=2"):
        out = tmp_path / f"{spec}.mp4"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
               str(_free_port()), "-m", "ltx", *base, "--parallel", spec, "--output", str(out)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        got = read_video(out).float()
        assert got.shape == want.shape
        if spec == "cfg=2":
            assert torch.equal(got, want)
        else:  # (the tiny random model amplifies the ~1e-7 differences: a few levels here and there)
            print(float((got - want).abs().mean()))
            assert (got - want).abs().mean() < 2, float((got - want).abs().mean())
    assert main([*base, "--parallel", "sp=2", "--output", str(tmp_path / "x.mp4")]) == 2  # without torchrun


def _bench_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    from ltx.bench.parallel import run
    from ltx.parity.fixtures import TINY

    cfg = TINY["ltx-2.0-tiny"].transformer
    cfg = dataclasses.replace(cfg, num_attention_heads=4, attention_head_dim=cfg.inner_dim // 4,
                              audio_num_attention_heads=4, audio_attention_head_dim=4,
                              audio_cross_attention_dim=16)  # fmt: skip
    rows = run({"tiny": (9, 64, 96)}, repeats=1, cfg=cfg, device="cpu")
    torch.save(rows, f"{out}.{rank}")
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("world", [2, 4])
def test_the_parallel_bench_suite_runs(tmp_path, world):
    """`ltx bench parallel`'s code paths on tiny bf16 models (gloo, CPU): the 1-process baseline, then every layout
    of the world; only the first process reports; each output near the baseline's (bf16)."""
    out = str(tmp_path / "rows")
    mp.spawn(_bench_worker, args=(world, _free_port(), out), nprocs=world)
    rows = torch.load(f"{out}.0")
    assert all(torch.load(f"{out}.{r}") == [] for r in range(1, world))
    peers = [(r["case"], r["peer"]) for r in rows]
    want = [
        ("tiny forward", "ours, 1 GPU"),
        ("tiny guided step", "ours, 1 GPU"),
        ("tiny forward", f"ours, sp={world} cfg=1"),
        ("tiny guided step", f"ours, sp=1 cfg={world}"),
        ("tiny guided step", f"ours, sp={world} cfg=1"),
    ] + [("tiny guided step", "ours, sp=2 cfg=2")] * (world == 4)
    assert peers == want
    assert all(r["rel_err_vs_1_gpu"] < 2e-2 and r["speedup_vs_1_gpu"] > 0 for r in rows[2:])
