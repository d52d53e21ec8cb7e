"""LTX-Video 0.9.x generation (ltx.pipelines.ltxv, ltxv_conditions, ltxv_multiscale) against ltx-video 0.1.2's
LTXVideoPipeline and LTXMultiScalePipeline on tiny files: text-to-video, image-to-video (hard and soft), keyframes, a
video segment in the middle, extension, video-to-video, distilled timesteps, per-interval guidance, stochastic
sampling with tone mapping, batches of two, both multi-scale recipes; plus input checks and `ltx generate`."""

import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from util import failed_rows

from ltx.dit.ltxv import LTXVTransformer
from ltx.pipelines.ltxv import GuidanceInterval, LTXVRequest, ltxv_generate
from ltx.pipelines.ltxv_conditions import LTXVCondition


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("ltx_video", reason="the official ltx-video is the oracle")
    from ltx.parity.ltxv_pipeline import write_files

    return write_files(tmp_path_factory.mktemp("ltxv_pipeline"))


@pytest.mark.oracle
def test_generation_matches_ltx_video(files):
    """Final latents bitwise for every case; the decoded frames bitwise for the batches of two. For one sample the
    frames differ by ~1e-6: the VAE decoder's time-embedding linears run a one-row product (gemv) whose rounding
    depends on the weight's memory alignment (ours sit in the loaded file's buffers), the same weights and inputs;
    with our decoder's weights copied to fresh memory every frame is bitwise too (the second run)."""
    from ltx.parity.ltxv_pipeline import CASES, ltxv_pipeline_parity

    rows = ltxv_pipeline_parity(*files)
    assert not failed_rows(rows)
    assert {r.name for r in rows} == {f"{c}/{k}" for c in CASES for k in ("latent", "video")}
    for r in rows:
        if r.name.endswith("/latent") or CASES[r.name.split("/")[0]].batch > 1:
            assert r.max_abs == 0.0, r
        else:
            assert r.rel <= 1e-5, r
    realigned = ltxv_pipeline_parity(*files, realign=True)
    assert [r.name for r in realigned if r.max_abs != 0.0] == []


@pytest.mark.oracle
def test_generation_in_bf16_matches_ltx_video(files):
    """bf16 as ltx-video's inference.py runs it (transformer, VAE, text features; the upsampler float32): every case's
    latents and frames bitwise. Its latents start in the features' dtype, so the noise, a start clip and the
    conditions blend in bf16 until the first step's float32 timesteps make them float32; the later re-noising and
    the decode noise are drawn in float32 then (up to 9e-2 apart before we followed that)."""
    from ltx.parity.ltxv_pipeline import CASES, ltxv_pipeline_parity

    rows = ltxv_pipeline_parity(*files, dtype=torch.bfloat16)
    assert {r.name for r in rows} == {f"{c}/{k}" for c in CASES for k in ("latent", "video")}
    assert [r.name for r in rows if r.max_abs != 0.0] == []


@pytest.mark.oracle
def test_each_layout_sensitive_op_sees_ltx_video_s_layouts(files):
    """bf16, every case: each convolution, matrix product, attention, norm and reduction of ours sees the operand
    layouts ltx-video's calls see (what the GPU picks its kernels by; the CPU's bitwise equality may not care)."""
    from ltx.parity.layouts import Record, differences, recording
    from ltx.parity.ltxv_pipeline import ltxv_pipeline_parity

    records = {"ours": Record(), "official": Record()}
    ltxv_pipeline_parity(*files, dtype=torch.bfloat16, around=lambda side: recording(records[side]))
    assert differences(records["ours"].calls, records["official"].calls) == []


def _interval_edit(r):
    return replace(r, guidance=(r.guidance[0], replace(r.guidance[1], stg_blocks=(2,)), r.guidance[2]))


@pytest.mark.oracle
@pytest.mark.parametrize(
    "case, change, fails",
    [
        ("i2v", {"ours_seed": 1}, "both"),
        ("i2v", {"edit_request": lambda r: replace(r, guidance_scale=r.guidance_scale + 0.25)}, "both"),
        ("i2v", {"edit_request": lambda r: replace(r, image_noise_scale=0.1)}, "both"),
        ("segment-middle", {"ours_vae_seed": 8}, "both"),
        ("intervals", {"edit_request": _interval_edit}, "both"),
        ("distilled-batch2", {"edit_request": lambda r: replace(r, timesteps=(1.0, 0.99, 0.9094, 0.725))}, "both"),
        ("stochastic-tonemap", {"edit_request": lambda r: replace(r, tone_map=0.5)}, "video"),
        ("multiscale-dev", {"edit_request": lambda r: replace(r, fps=24.0)}, "both"),
    ],
    ids=["seed", "guidance", "image-noise", "aux-seed", "interval-blocks", "timesteps", "tone-map", "fps"],
)
def test_a_wrong_seed_or_setting_is_caught(files, case, change, fails):
    from ltx.parity.ltxv_pipeline import ltxv_pipeline_parity

    rows = ltxv_pipeline_parity(*files, cases=(case,), **change)
    want = {f"{case}/latent", f"{case}/video"} if fails == "both" else {f"{case}/video"}
    assert failed_rows(rows) == want


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"height": 70}, "multiples of 32"),
        ({"width": 0}, "multiples of 32"),
        ({"frames": 10}, "8k \\+ 1"),
        ({"tone_map": 1.5}, "tone_map must be in \\[0, 1\\]"),
        ({"timesteps": (1.0, 1.0)}, "timesteps must be descending"),
        ({"timesteps": (1.2, 0.5)}, "timesteps must be descending values in \\(0, 1\\]"),
        ({"timesteps": (1.0, 0.5), "skip_initial_steps": 1}, "with your own timesteps"),
        ({"steps": 4, "skip_initial_steps": 2, "skip_final_steps": 2}, "leave at least one of the 4 steps"),
        ({"skip_final_steps": -1}, "must be >= 0"),
        ({"guidance": (GuidanceInterval(0.5), GuidanceInterval(0.9))}, "descending timesteps"),
        ({"guidance": (GuidanceInterval(1.0, stg_scale=-1.0),)}, "stg_scale must be >= 0"),
        ({"decode_timestep": -0.1}, "decode_timestep must be in \\[0, 1\\]"),
        ({"decode_noise_scale": 2.0}, "decode_noise_scale"),
        ({"stg_strategy": "skip"}, "stg_strategy must be one of"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"fps": 0}, "fps must be positive"),
        ({"stg_scale": -1.0}, "stg_scale must be >= 0"),
    ],
)
def test_request_checks(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LTXVRequest(**{"height": 64, "width": 96, "frames": 9, **kwargs})


def _meta_transformer(**changes):
    from ltx.config.ltxv import LTXVConfig

    cfg = LTXVConfig(num_layers=3, heads=2, head_dim=16, in_channels=128, out_channels=128, cross_attention_dim=32,
                     caption_channels=24).replace(**changes)  # fmt: skip
    with torch.device("meta"):
        return LTXVTransformer(cfg)


_ENCODER = SimpleNamespace(cfg=SimpleNamespace(latent_channels=128, time_scale=8, space_scale=32))


@pytest.mark.parametrize(
    "case, message",
    [
        ("context", "context must be \\(B, S, 24\\)"),
        ("mask", "context_mask must be \\(B, S\\)"),
        ("negative", "negative_context must match"),
        ("nan-context", "context holds NaN"),
        ("condition-no-encoder", "need the VAE encoder"),
        ("condition-type", "conditions\\[0\\] must be an LTXVCondition"),
        ("condition-shape", "conditions\\[0\\].media must be \\(1 or 1, 3, F, H, W\\)"),
        ("condition-frames", "conditions\\[0\\].media has 4 frames: it must have 8k \\+ 1"),
        ("condition-beyond", "conditions\\[1\\] covers frames 8..16, outside the clip's 0..8"),
        ("condition-strength", "conditions\\[0\\].strength must be in \\[0, 1\\], got nan"),
        ("segment-start", "conditions\\[0\\]: a video segment after frame 0 must start at a multiple of 8, got 4"),
        ("condition-nan", "conditions\\[0\\].media holds NaN"),
        ("latents-and-media", "latents or media to start from, not both"),
        ("latents-shape", "latents must be \\(1 or B, 128, 2, 2, 3\\)"),
        ("latents-from-noise", "needs a first timestep below 1"),
        ("stg-block", "stg_blocks \\(5,\\) outside"),
        ("learned-sigma", "learned-sigma head"),
        ("vae-channels", "the VAE encoder has 64 latent channels, the transformer 128"),
    ],
)
def test_generate_checks_inputs_before_any_work(case, message):
    """Each bad input is named before anything is drawn or run (the transformer is on the meta device)."""
    transformer = _meta_transformer(out_channels=256) if case == "learned-sigma" else _meta_transformer()
    ctx, mask = torch.zeros(1, 4, 24), torch.ones(1, 4)
    neg, encoder, conditions, latents, media = None, None, [], None, None
    req = LTXVRequest(64, 96, 9, stg_blocks=(5,) if case == "stg-block" else ())
    image = torch.zeros(1, 3, 1, 64, 96)
    if case == "context":
        ctx = torch.zeros(1, 4, 25)
    elif case == "mask":
        mask = torch.ones(1, 3)
    elif case == "negative":
        neg = torch.zeros(1, 5, 24)
    elif case == "nan-context":
        ctx = torch.full((1, 4, 24), float("nan"))
    elif case == "condition-no-encoder":
        conditions = [LTXVCondition(image)]
    elif case == "condition-type":
        conditions, encoder = [image], _ENCODER
    else:
        encoder = _ENCODER
        conditions = {
            "condition-shape": [LTXVCondition(torch.zeros(1, 1, 64, 96))],
            "condition-frames": [LTXVCondition(torch.zeros(1, 3, 4, 64, 96))],
            "condition-beyond": [LTXVCondition(image), LTXVCondition(torch.zeros(1, 3, 9, 64, 96), frame=8)],
            "condition-strength": [LTXVCondition(image, 0, float("nan"))],
            "segment-start": [LTXVCondition(torch.zeros(1, 3, 9, 64, 96), frame=4, strength=1.0)],
            "condition-nan": [LTXVCondition(torch.full((1, 3, 1, 64, 96), float("nan")))],
        }.get(case, [])
        if case == "latents-and-media":
            latents, media = torch.zeros(1, 128, 2, 2, 3), torch.zeros(1, 3, 9, 64, 96)
        elif case == "latents-shape":
            latents, req = torch.zeros(1, 128, 2, 2, 2), replace(req, skip_initial_steps=1)
        elif case == "latents-from-noise":
            latents = torch.zeros(1, 128, 2, 2, 3)
        elif case == "vae-channels":
            encoder = SimpleNamespace(cfg=SimpleNamespace(latent_channels=64))
    generator = torch.Generator().manual_seed(0)
    with pytest.raises((ValueError, TypeError), match=message):
        ltxv_generate(transformer, None, ctx, mask, neg, None, req, generator=generator, conditions=conditions,
                      encoder=encoder, latents=latents, media=media)  # fmt: skip
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())  # nothing drawn


def test_multiscale_checks_its_inputs():
    from ltx.config.vae import UpsamplerConfig
    from ltx.pipelines.ltxv_multiscale import ltxv_multiscale, pass_sizes
    from ltx.vae.upsampler import LatentUpsampler

    assert pass_sizes(512, 768, 0.6666666) == (320, 480)  # 768 x 512 runs its first pass at 480 x 320
    transformer, ctx, mask = _meta_transformer(), torch.zeros(1, 4, 24), torch.ones(1, 4)
    with torch.device("meta"):
        x2 = LatentUpsampler(UpsamplerConfig(mid_channels=32, num_blocks_per_stage=1, dims=2))
        x15 = LatentUpsampler(UpsamplerConfig(mid_channels=32, num_blocks_per_stage=1, rational_resampler=True,
                                              spatial_scale=1.5))  # fmt: skip
    g = torch.Generator()
    for upsampler, req, recipe, message in (
        (x2, LTXVRequest(64, 96, 9), "fast", "recipe must be one of \\['dev', 'distilled'\\]"),
        (x15, LTXVRequest(64, 96, 9), "distilled", "needs a spatial x2 latent upsampler"),
        (x2, LTXVRequest(32, 96, 9), "distilled", "32x96 at 0.666667 is below 32 px on a side"),
        (None, LTXVRequest(64, 96, 9), "distilled", "needs the VAE encoder"),
    ):
        with pytest.raises(ValueError, match=message):
            ltxv_multiscale(transformer, None, upsampler, _ENCODER, ctx, mask, None, None, req, recipe, generator=g)


def test_ltxv_media_prepares_as_the_official_inference(tmp_path):
    """An image is centre-cropped to the clip's aspect ratio, not resized (the pipeline resizes); values in [-1, 1];
    a video gives its first frames."""
    import numpy as np
    from PIL import Image

    from ltx.media import ltxv_media, write_mp4

    path = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 200, 3), dtype=np.uint8)).save(path)
    x = ltxv_media(path, 64, 96)
    assert x.shape == (1, 3, 1, 80, 120) and -1 <= x.min() and x.max() <= 1
    clip = tmp_path / "clip.mp4"
    write_mp4(clip, torch.rand(12, 64, 64, 3), 24.0)
    assert ltxv_media(clip, 64, 64, 9).shape == (1, 3, 9, 64, 64)
    with pytest.raises(ValueError, match="too small to condition on"):
        Image.fromarray(np.zeros((1, 40, 3), dtype=np.uint8)).save(tmp_path / "thin.png")
        ltxv_media(tmp_path / "thin.png", 64, 64)


@pytest.mark.oracle
def test_generate_command_runs_an_ltx_video_file(files, tmp_path, capsys):
    """`ltx generate` recognises the LTX-Video transformer file and runs its pipelines from a prompts file: the MP4
    has the frames and size asked for in text-to-video, image-to-video, keyframes + a video segment, and the
    multi-scale recipe (96 x 160 via 64 x 192: resized); options that do not apply are refused."""
    import numpy as np
    from PIL import Image

    from ltx.cli import main
    from ltx.dit.ltxv import load_ltxv_transformer
    from ltx.media import video_info, write_mp4
    from ltx.text.encoder import save_prompt_embeddings
    from ltx.text.processor import PromptEmbeddings

    transformer, vae, upsampler = files
    caption = load_ltxv_transformer(transformer, dtype=torch.float32).cfg.caption_channels
    g = torch.Generator().manual_seed(0)
    embeddings = PromptEmbeddings(torch.randn(2, 6, caption, generator=g), None, torch.ones(2, 6, dtype=torch.long))
    prompts = tmp_path / "prompts.safetensors"
    save_prompt_embeddings(prompts, embeddings, ["a cat", ""], dtype="float32", model="ltx-video")
    image = tmp_path / "first.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)).save(image)
    clip = tmp_path / "clip.mp4"
    write_mp4(clip, torch.rand(12, 64, 96, 3), 25.0)
    base = ["generate", "--checkpoint", str(transformer), "--video-vae", str(vae), "--prompts", str(prompts),
            "--prompt", "a cat", "--height", "64", "--width", "96", "--frames", "17", "--steps", "2", "--fps", "25",
            "--stg-blocks", "1", "--device", "cpu", "--dtype", "float32"]  # fmt: skip
    runs = (([], "t2v.mp4", (17, 96, 64)), (["--image", str(image)], "i2v.mp4", (17, 96, 64)),
            (["--image", f"{image}@16:0.8", "--video", f"{clip}@0:1"], "keys.mp4", (17, 96, 64)),
            (["--upsampler", str(upsampler), "--recipe", "dev", "--width", "160", "--height", "96"],
             "multi.mp4", (17, 160, 96)))  # fmt: skip
    for extra, name, want in runs:
        assert main([*base, *extra, "--output", str(tmp_path / name)]) == 0, capsys.readouterr().err
        assert video_info(tmp_path / name)[1:] == want
    assert "(LTX-Video, no audio)" in capsys.readouterr().out
    refused = (
        (["--gemma", "x"], "--gemma does not apply"),
        (["--t5", "x"], "takes --t5 DIR or --prompts FILE"),
        (["--pipeline", "two-stage"], "--pipeline two-stage \\(use --upsampler FILE"),
        (["--recipe", "dev"], "--recipe is the multi-scale pipeline's"),
        (["--prompt", "a dog"], "has no embeddings for the prompt 'a dog'"),
        (["--image", f"{image}@20"], "conditions\\[0\\] covers frames 20..20, outside the clip's 0..16"),
    )
    for extra, message in refused:
        assert main([*base, *extra, "--output", str(tmp_path / "x.mp4")]) == 2, extra
        assert re.search(message, capsys.readouterr().err), extra
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.oracle
def test_generate_command_on_two_processes(files, tmp_path, capsys):
    """`torchrun --nproc-per-node 2 -m ltx generate ... --parallel sp=2` with an LTX-Video file (gloo on the CPU):
    the first process writes the clip of one process (a few levels apart where the tiny random model amplifies the
    ~1e-7 differences: tests/test_parallel.py bounds the transformer's); cfg=2 is refused (its passes are one batch)."""
    import os
    import subprocess
    import sys

    from test_parallel import _free_port

    from ltx.cli import main
    from ltx.dit.ltxv import load_ltxv_transformer
    from ltx.media import read_video
    from ltx.text.encoder import save_prompt_embeddings
    from ltx.text.processor import PromptEmbeddings

    transformer, vae, _ = files
    caption = load_ltxv_transformer(transformer, dtype=torch.float32).cfg.caption_channels
    embeddings = PromptEmbeddings(torch.randn(2, 6, caption, generator=torch.Generator().manual_seed(0)), None,
                                  torch.ones(2, 6, dtype=torch.long))  # fmt: skip
    prompts = tmp_path / "prompts.safetensors"
    save_prompt_embeddings(prompts, embeddings, ["a cat", ""], dtype="float32", model="ltx-video")
    base = ["generate", "--checkpoint", str(transformer), "--video-vae", str(vae), "--prompts", str(prompts),
            "--prompt", "a cat", "--height", "64", "--width", "96", "--frames", "17", "--steps", "2", "--fps", "25",
            "--stg-blocks", "1", "--device", "cpu", "--dtype", "float32"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "ltx", *base, "--output", str(tmp_path / "one.mp4")], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                          str(_free_port()), "-m", "ltx", *base, "--parallel", "sp=2", "--output",
                          str(tmp_path / "two.mp4")], env=env, capture_output=True, text=True)  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = read_video(tmp_path / "one.mp4").float(), read_video(tmp_path / "two.mp4").float()
    assert a.shape == b.shape and (a - b).abs().mean() < 2, float((a - b).abs().mean())
    assert main([*base, "--parallel", "cfg=2", "--output", str(tmp_path / "x.mp4")]) == 2
    assert "takes sp=N alone" in capsys.readouterr().err
