"""LTX-Video 0.9.x on the GPU beside ltx-video 0.1.2 and diffusers, same run, same random bf16 weights
(`ltx bench ltxv-forward`, `ltxv-generate`).

The clip is the paper's headline: 121 frames of 768x512 at 24 fps (16 x 16 x 24 = 6,144 latent tokens), text of
256 T5 tokens of which the first 64 are the prompt (a 0/1 mask, as a real prompt gives).
- ltxv-forward: one transformer call (batch 1, one pass) of the 2B (28 blocks of 2048) and the 13B (48 of 4096):
  ltx-video's Transformer3DModel and diffusers' LTXVideoTransformer3DModel (their default attention, PyTorch SDPA)
  sharing our tensors; ours eager (the dispatcher's defaults: cuDNN attention, Triton norms), compiled + captured
  (ltx.runtime.accelerate), and compiled + captured with FP8 GEMMs (block linears rounded to e4m3 per tensor,
  activations per token). Reported: median ms, peak GiB above the weights, velocity rel error vs ltx-video.
- ltxv-generate: the whole 2B generation after text encoding (transformer steps, upsampling and second pass where
  the recipe has them, the VAE decode of the 0.9.5+ timestep-conditioned decoder): one pass of 8 steps without
  guidance, and the multi-scale distilled recipe (7 steps at 480x320, x2 latent upsampling + AdaIN, 3 steps at
  960x640, decode, resize to 768x512); ltx-video's LTXVideoPipeline / LTXMultiScalePipeline beside ours eager and
  compiled + captured. Reported: median seconds per clip, and seconds of video made per second of wall time.
"""

from __future__ import annotations

import time

import torch

from ltx.bench.e2e import sync, timed
from ltx.testing import fill_random

FRAMES, HEIGHT, WIDTH, FPS = 121, 512, 768, 24.0
TEXT, PROMPT = 256, 64
DEVICE = "cuda"  # (the tests run these on tiny configs on the CPU)


def build_transformers(cfg, device, dtype=torch.bfloat16):
    """(ours, ltx-video's, diffusers') holding the same tensors."""
    from ltx.dit.ltxv import LTXVTransformer
    from ltx.parity.ltxv import diffusers_keys, diffusers_module, official_module

    with torch.device("meta"):
        ours = LTXVTransformer(cfg)
        official = official_module(cfg)
        theirs = diffusers_module(cfg)
    ours = fill_random(ours.to_empty(device=device), torch.Generator(device).manual_seed(0)).to(dtype).eval()
    official.load_state_dict(ours.state_dict(), strict=True, assign=True)
    theirs.load_state_dict(diffusers_keys(ours.state_dict()), strict=True, assign=True)
    return ours, official.eval(), theirs.eval()


def share(model):
    """A second LTXVTransformer on the same tensors (so FP8 or compiled variants leave the first alone)."""
    from ltx.dit.ltxv import LTXVTransformer

    with torch.device("meta"):
        twin = LTXVTransformer(model.cfg)
    twin.load_state_dict(model.state_dict(), strict=True, assign=True)
    return twin.eval()


def text(caption: int, device, dtype=torch.bfloat16, batch: int = 1):
    g = torch.Generator(device).manual_seed(2)
    context = torch.randn(batch, TEXT, caption, generator=g, device=device, dtype=dtype)
    mask = torch.zeros(batch, TEXT, device=device)
    mask[:, :PROMPT] = 1
    return context, mask


def forward(models=("2B", "13B"), repeats: int = 7) -> list[dict]:
    from ltx.config.ltxv import LTXV_2B, LTXV_13B

    rows: list[dict] = []
    for name in models:
        cfg = models[name] if isinstance(models, dict) else {"2B": LTXV_2B, "13B": LTXV_13B}[name]
        rows += _forward(name, cfg, repeats)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def _forward(name: str, cfg, repeats: int) -> list[dict]:
    from ltx.bench.e2e import to_fp8
    from ltx.pipelines.ltxv_conditions import pixel_positions
    from ltx.runtime import accelerate

    device = torch.device(DEVICE)
    ours, official, theirs = build_transformers(cfg, device)
    f, h, w = (FRAMES - 1) // 8 + 1, HEIGHT // 32, WIDTH // 32
    g = torch.Generator(device).manual_seed(1)
    latent = torch.randn(1, f * h * w, cfg.in_channels, generator=g, device=device, dtype=torch.bfloat16)
    positions = pixel_positions(f, h, w, (8, 32, 32), cfg.causal_temporal_positioning).float()
    positions[0] = positions[0] * (1.0 / FPS)
    positions = positions[None].to(device)
    context, mask = text(cfg.caption_channels, device)
    t = torch.full((1, 1), 0.7, device=device)
    compiled, fp8 = accelerate(share(ours)), accelerate(to_fp8(share(ours)))
    calls = {
        "ltx-video 0.1.2": lambda: official(latent, indices_grid=positions, encoder_hidden_states=context,
                                            encoder_attention_mask=mask, timestep=t, return_dict=False)[0],
        "diffusers": lambda: theirs(hidden_states=latent, encoder_hidden_states=context, timestep=t * 1000,
                                    encoder_attention_mask=mask, video_coords=positions, return_dict=False)[0],
        "ours eager": lambda: ours(latent, positions, context, t, context_mask=mask),
        "ours compiled + captured": lambda: compiled(latent, positions, context, t, context_mask=mask),
        "ours compiled + captured, FP8 GEMMs": lambda: fp8(latent, positions, context, t, context_mask=mask),
    }  # fmt: skip
    rows, outs = [], {}
    with torch.inference_mode():
        for peer, fn in calls.items():
            start = time.perf_counter()
            fn()
            sync()
            first = time.perf_counter() - start
            seconds, peak, outs[peer] = timed(fn, repeats)
            rows.append({"case": f"{name} {WIDTH}x{HEIGHT}x{FRAMES}", "peer": peer, "seconds": seconds,
                         "peak_gib_above_weights": peak, "first_call_s": first})  # fmt: skip
            print(rows[-1], flush=True)
    ref = outs["ltx-video 0.1.2"].float()
    for row in rows:
        row["rel_err"] = float((outs[row["peer"]].float() - ref).norm() / ref.norm())
        row["time_ratio_vs_diffusers"] = row["seconds"] / rows[1]["seconds"]
    return rows


def build_vae(device, dtype=torch.bfloat16, vae=None, upsampler=None):
    """ltx-video's CausalVideoAutoencoder of the 0.9.5+ layout with random weights, our decoder and encoder on the
    same tensors, and a spatial x2 upsampler (ltx-video's and ours, shared; float32)."""
    from ltx.config.vae import LTXV_0_9_5_VAE, UpsamplerConfig
    from ltx.parity.oracle import require
    from ltx.vae.loading import _file_key
    from ltx.vae.upsampler import LatentUpsampler
    from ltx.vae.video import VideoDecoder, VideoEncoder

    vae = vae or LTXV_0_9_5_VAE
    cva = require("ltx_video.models.autoencoders.causal_video_autoencoder").CausalVideoAutoencoder
    with torch.device("meta"):
        official = cva.from_config(vae.to_metadata())
    official = fill_random(official.to_empty(device=device), torch.Generator(device).manual_seed(3)).to(dtype).eval()
    n = vae.latent_channels  # the latent statistics, which the official registers when it reads a file
    official.register_buffer("std_of_means", 0.5 + torch.rand(n, device=device, dtype=dtype))
    official.register_buffer("mean_of_means", 0.1 * torch.randn(n, device=device, dtype=dtype))
    state = official.state_dict()
    for ours_name, theirs in (("std-of-means", "std_of_means"), ("mean-of-means", "mean_of_means")):
        state[f"per_channel_statistics.{ours_name}"] = state[theirs]
    halves = []
    for cls, part in ((VideoDecoder, "decoder"), (VideoEncoder, "encoder")):
        with torch.device("meta"):
            module = cls(vae)
        module.load_state_dict({k: state[_file_key("", part, k)] for k in module.state_dict()}, assign=True)
        halves.append(module.eval())
    up_cfg = upsampler or UpsamplerConfig()
    official_up = require("ltx_video.models.autoencoders.latent_upsampler").LatentUpsampler
    with torch.device("meta"):
        official_up = official_up.from_config(up_cfg.to_metadata())
    # float32, as ltx-video's inference.py leaves it
    official_up = fill_random(official_up.to_empty(device=device), torch.Generator(device).manual_seed(4)).eval()
    with torch.device("meta"):
        ours_up = LatentUpsampler(up_cfg)
    ours_up.load_state_dict(official_up.state_dict(), assign=True)
    return official, halves[0], halves[1], official_up, ours_up.eval()


def generate(repeats: int = 3, model=None, vae=None, upsampler=None) -> list[dict]:
    from ltx.config.ltxv import LTXV_2B
    from ltx.parity.ltxv_pipeline import Case, official_pipeline_of, official_settings, run_official
    from ltx.pipelines.ltxv import LTXVRequest, ltxv_generate
    from ltx.pipelines.ltxv_multiscale import RECIPES, ltxv_multiscale
    from ltx.runtime import accelerate

    device, model = torch.device(DEVICE), model or LTXV_2B
    ours, official, _ = build_transformers(model, device)
    vae, decoder, encoder, official_up, ours_up = build_vae(device, vae=vae, upsampler=upsampler)
    pipe = official_pipeline_of(official, vae)
    context, mask = text(model.caption_channels, device)
    x = {"context": context, "context_mask": mask, "negative_context": torch.zeros_like(context),
         "negative_mask": torch.zeros_like(mask), "conditions": []}  # fmt: skip
    blocks = (min(19, model.num_layers - 1),)
    common = dict(fps=FPS, decode_timestep=0.05, decode_noise_scale=0.025, stg_blocks=blocks)
    one_pass = LTXVRequest(HEIGHT, WIDTH, FRAMES, steps=8, guidance_scale=1.0, stg_scale=0.0, rescaling=1.0, **common)
    multi = LTXVRequest(HEIGHT, WIDTH, FRAMES, **common)
    compiled = accelerate(share(ours))
    text_args = (context, mask, None, None)

    def ours_call(model, case):
        # ltx-video's draws: its generator on the CPU (moved), the rest from the run device's global generator
        gens = dict(generator=torch.Generator().manual_seed(0), aux_generator=torch.Generator(device).manual_seed(1))
        if case.recipe is None:
            return ltxv_generate(model, decoder, *text_args, case.req, **gens).video
        recipe = RECIPES[case.recipe].with_stg_blocks(blocks)
        return ltxv_multiscale(model, decoder, ours_up, encoder, *text_args, case.req, recipe, **gens).video

    rows: list[dict] = []
    for case in (Case("one pass, 8 steps", one_pass), Case("multi-scale distilled, 7 + 3 steps", multi,
                                                           recipe="distilled")):  # fmt: skip
        assert official_settings(case.req)  # (the same request, as ltx-video's keywords)
        calls = {
            "ltx-video 0.1.2": lambda c=case: run_official(pipe, c, x, 0, 1, "pt", official_up),
            "ours eager": lambda c=case: ours_call(ours, c),
            "ours compiled + captured": lambda c=case: ours_call(compiled, c),
        }
        videos = {}
        with torch.inference_mode():
            for peer, fn in calls.items():
                seconds, peak, videos[peer] = timed(fn, repeats)
                rows.append({"case": case.name, "peer": peer, "seconds": seconds, "peak_gib_above_weights": peak,
                             "video_seconds_per_second": FRAMES / FPS / seconds,
                             "shape": "x".join(map(str, videos[peer].shape))})  # fmt: skip
                print(rows[-1], flush=True)
        ref = videos["ltx-video 0.1.2"].float()
        for row in rows[-len(calls) :]:
            row["time_ratio_vs_ltx_video"] = row["seconds"] / rows[-len(calls)]["seconds"]
            row["rel_err_frames"] = float((videos[row["peer"]].float() - ref).norm() / ref.norm())
    return rows
