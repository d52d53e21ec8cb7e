"""Sampling pieces against their ltx-core / ltx-pipelines / ltx-video counterparts: schedules, guidance,
conditioning, the Euler and res_2s loops, and batched guidance passes."""

from dataclasses import replace

import pytest
import torch

from ltx import load_transformer
from ltx.audio.timing import audio_token_count
from ltx.parity.oracle import OfficialTransformer, ensure_torchaudio, require
from ltx.parity.pipelines import guider_params
from ltx.sampling import (
    DISTILLED_SIGMAS,
    STAGE2_SIGMAS,
    Denoiser,
    Guidance,
    add_noise,
    append_keyframe,
    append_reference,
    audio_state,
    defaults,
    euler_loop,
    ltx2_sigmas,
    ltxv_timesteps,
    replace_frames,
    res2s_loop,
    strip,
    time_region,
    unpatchify,
    video_state,
)

pytest.importorskip("ltx_core")
ensure_torchaudio()  # ltx-pipelines imports it; a stand-in where it cannot load


def _official_state(s):
    types = require("ltx_core.types")
    return types.LatentState(latent=s.latent, denoise_mask=s.mask, positions=s.positions, clean_latent=s.clean,
                             attention_mask=s.attention)  # fmt: skip


# -- schedules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [2, 3, 8, 30, 40])
@pytest.mark.parametrize("tokens", [None, 256, 6144])
def test_ltx2_schedule_equals_official(steps, tokens):
    sched = require("ltx_core.components.schedulers").LTX2Scheduler()
    ref = sched.execute(steps=steps, latent=None if tokens is None else torch.zeros(1, 1, tokens))
    assert torch.equal(ltx2_sigmas(steps, tokens), ref)


def test_schedule_constants_and_errors():
    consts = require("ltx_pipelines.utils.constants")
    assert list(DISTILLED_SIGMAS) == consts.DISTILLED_SIGMA_VALUES
    assert list(STAGE2_SIGMAS) == consts.STAGE_2_DISTILLED_SIGMA_VALUES
    with pytest.raises(ValueError, match="at least 2 steps"):
        ltx2_sigmas(1)  # ltx-core returns NaN or 0.1 for the first sigma here
    assert ltx2_sigmas(1, terminal=None).tolist() == pytest.approx([1.0, 0.0])


@pytest.mark.parametrize("steps, tokens", [(2, 128), (20, 6144), (40, 24576)])
def test_ltxv_schedule_equals_ltx_video(steps, tokens):
    rf = require("ltx_video.schedulers.rf").RectifiedFlowScheduler(shifting="SD3", target_shift_terminal=0.1)
    rf.set_timesteps(steps, samples_shape=torch.Size([1, tokens, 128]))
    assert torch.equal(ltxv_timesteps(steps, tokens), rf.timesteps)


# -- guidance -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rescale", [0.0, 0.7, 1.0])
def test_guidance_combination_equals_official(rescale):
    guiders = require("ltx_core.components.guiders")
    g = Guidance(cfg=3.0, stg=1.0, stg_blocks=(1,), rescale=rescale, modality=2.5)
    params = guiders.MultiModalGuiderParams(cfg_scale=3.0, stg_scale=1.0, stg_blocks=[1], rescale_scale=rescale,
                                            modality_scale=2.5)  # fmt: skip
    x = [torch.randn(1, 40, 128, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    assert torch.equal(g.combine(*x), guiders.MultiModalGuider(params=params).calculate(*x))
    assert torch.equal(Guidance().combine(x[0]), x[0])


def test_guidance_rules():
    with pytest.raises(ValueError, match="stg_blocks"):
        Guidance(stg=1.0)
    with pytest.raises(ValueError, match="skip_step"):
        Guidance(skip_step=-1)
    g = Guidance(skip_step=2)
    assert [g.skips(i) for i in range(6)] == [False, True, True, False, True, True]
    video, audio, steps = defaults("2.3.0")
    assert steps == 30 and video.stg_blocks == (28,) and (video.cfg, audio.cfg) == (3.0, 7.0)
    assert defaults(None)[2] == 40 and defaults("2.0")[0].stg_blocks == (29,)


# -- conditioning ---------------------------------------------------------------------------------
def _tools(frames_lat=3, h=2, w=3, fps=24.0, dtype=torch.float32):
    types = require("ltx_core.types")
    tools = require("ltx_core.tools")
    patch = require("ltx_core.components.patchifiers")
    shape = types.VideoLatentShape(batch=1, channels=128, frames=frames_lat, height=h, width=w)
    return tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), shape, fps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_video_conditioning_equals_official(dtype):
    cond = require("ltx_core.conditioning")
    tools = _tools()
    g = torch.Generator().manual_seed(0)
    first = torch.randn(1, 128, 1, 2, 3, generator=g).to(dtype)
    key = torch.randn(1, 128, 1, 2, 3, generator=g).to(dtype)
    ref_video = torch.randn(1, 128, 2, 1, 2, generator=g).to(dtype)
    ref = tools.create_initial_state("cpu", dtype)
    ours = video_state(None, (1, 128, 3, 2, 3), 24.0, dtype=dtype, device="cpu")
    steps = [
        (cond.VideoConditionByLatentIndex(latent=first, strength=0.9, latent_idx=0),
         lambda s: replace_frames(s, first, 0.9, 0)),
        (cond.VideoConditionByKeyframeIndex(keyframes=key, frame_idx=13, strength=0.7),
         lambda s: append_keyframe(s, key, 13, 0.7, 24.0)),
        (cond.ConditioningItemAttentionStrengthWrapper(
            cond.VideoConditionByReferenceLatent(latent=ref_video, downscale_factor=2, strength=1.0),
            attention_mask=0.4),
         lambda s: append_reference(s, ref_video, 24.0, 2, 1.0, 0.4)),
    ]  # fmt: skip
    for official, mine in steps:
        ref, ours = official.apply_to(ref, tools), mine(ours)
        for a, b in ((ours.latent, ref.latent), (ours.mask, ref.denoise_mask), (ours.positions, ref.positions),
                     (ours.clean, ref.clean_latent)):  # fmt: skip
            assert a.dtype == b.dtype and torch.equal(a, b)
        assert (ours.attention is None) == (ref.attention_mask is None)
        if ours.attention is not None:
            assert torch.equal(ours.attention, ref.attention_mask)
    cleared = tools.clear_conditioning(ref)
    assert torch.equal(strip(ours).latent, cleared.latent) and torch.equal(
        unpatchify(strip(ours)), tools.unpatchify(cleared).latent
    )


def test_time_region_equals_official_retake_mask():
    retake = require("ltx_pipelines.retake")
    tools = _tools(frames_lat=4)
    ours = time_region(video_state(None, (1, 128, 4, 2, 3), 24.0, dtype=torch.float32, device="cpu"), 0.3, 0.9, 24.0)
    ref = retake.TemporalRegionMask(0.3, 0.9, 24.0).apply_to(tools.create_initial_state("cpu", torch.float32), tools)
    assert torch.equal(ours.mask, ref.denoise_mask) and 0 < ours.mask.sum() < ours.mask.numel()
    a_tools = require("ltx_core.tools").AudioLatentTools(
        require("ltx_core.components.patchifiers").AudioPatchifier(patch_size=1),
        require("ltx_core.types").AudioLatentShape(batch=1, channels=8, frames=30, mel_bins=16),
    )
    ref = retake.TemporalRegionMask(0.3, 0.9, 24.0).apply_to(
        a_tools.create_initial_state("cpu", torch.float32), a_tools
    )
    ours = time_region(audio_state(None, (1, 8, 30, 16), dtype=torch.float32, device="cpu"), 0.3, 0.9)
    assert torch.equal(ours.mask, ref.denoise_mask)


def test_conditioning_errors():
    s = video_state(None, (1, 128, 3, 2, 3), 24.0, dtype=torch.float32, device="cpu")
    with pytest.raises(ValueError, match="does not fit"):
        replace_frames(s, torch.zeros(1, 128, 1, 4, 3), 1.0)
    with pytest.raises(ValueError, match="outside"):
        replace_frames(s, torch.zeros(1, 128, 2, 2, 3), 1.0, latent_index=2)
    with pytest.raises(ValueError, match="attention strengths"):
        append_reference(s, torch.zeros(1, 128, 1, 2, 3), 24.0, attention=torch.ones(5))
    with pytest.raises(ValueError, match="expected"):
        video_state(torch.zeros(1, 128, 2, 2, 3), (1, 128, 3, 2, 3), 24.0, dtype=torch.float32, device="cpu")


# -- loops ----------------------------------------------------------------------------------------
def test_res2s_loop_equals_official():
    samplers = require("ltx_pipelines.utils.samplers")
    steps = require("ltx_core.components.diffusion_steps")
    g = torch.Generator().manual_seed(0)
    v = video_state(torch.randn(1, 128, 2, 2, 2, generator=g), (1, 128, 2, 2, 2), 24.0, dtype=torch.float32,
                    device="cpu")  # fmt: skip
    v = replace(v, mask=torch.cat([torch.full((1, 4, 1), 0.3), v.mask[:, 4:]], dim=1))
    a = audio_state(torch.randn(1, 8, 5, 16, generator=g), (1, 8, 5, 16), dtype=torch.float32, device="cpu")
    w = torch.randn(128, 128, generator=g) / 12

    def denoise(video_state=None, audio_state=None, sigmas=None, step_index=None):
        s = sigmas[step_index]
        return (video_state.latent @ w * (1 - s) + 0.1).float(), (audio_state.latent * 0.5 * s).float()

    sigmas = ltx2_sigmas(4, 8)
    ours = res2s_loop(sigmas, v, a, denoise, seed=-1, model_dtype=torch.float32)
    ref = samplers.res2s_audio_video_denoising_loop(
        sigmas, _official_state(v), _official_state(a), steps.Res2sDiffusionStep(), denoise, model_dtype=torch.float32
    )
    assert torch.equal(ours[0].latent, ref[0].latent) and torch.equal(ours[1].latent, ref[1].latent)


@pytest.fixture(scope="module")
def guided_setup(tiny):
    path = tiny["ltx-2.3-tiny"]
    g = torch.Generator().manual_seed(1)
    ctx = [torch.randn(1, 16, d, generator=g) for d in (40, 20, 40, 20)]
    return path, ctx, torch.randn(1, 128, 1, 2, 3, generator=g), torch.randn(1, 128, 1, 2, 3, generator=g)


def _ours_guided(model, ctx, cond, key, vg, ag, batched=False):
    gen = torch.Generator().manual_seed(3)
    v = video_state(None, (1, 128, 3, 2, 3), 24.0, dtype=torch.float32, device="cpu")
    v = append_keyframe(replace_frames(v, cond, 0.9, 0), key, 9, 0.8, 24.0)
    a = audio_state(None, (1, 8, audio_token_count(17, 24.0), 16), dtype=torch.float32, device="cpu")
    v, a = add_noise(v, gen), add_noise(a, gen)
    v, a = euler_loop(ltx2_sigmas(4), v, a, Denoiser(model, ctx[0], ctx[1], vg, ag, ctx[2], ctx[3], batched=batched))
    return unpatchify(strip(v)), unpatchify(strip(a))


def test_guided_euler_sampling_equals_official(guided_setup):
    path, ctx, cond, key = guided_setup
    H, S = require("ltx_pipelines.utils.helpers"), require("ltx_pipelines.utils.samplers")
    G, conds = require("ltx_core.components.guiders"), require("ltx_core.conditioning")
    types = require("ltx_core.types")
    vg = Guidance(cfg=3, stg=1, stg_blocks=(1,), rescale=0.7, modality=3)
    ag = Guidance(cfg=7, stg=1, stg_blocks=(1,), rescale=0.7, modality=3, skip_step=1)

    x0 = require("ltx_core.model.transformer").X0Model(
        OfficialTransformer(path, torch.device("cpu"), torch.float32, True).model
    )
    denoise = H.multi_modal_guider_factory_denoising_func(
        G.create_multimodal_guider_factory(guider_params(vg), ctx[2]),
        G.create_multimodal_guider_factory(guider_params(ag), ctx[3]),
        ctx[0], ctx[1], x0)  # fmt: skip
    items = [conds.VideoConditionByLatentIndex(latent=cond, strength=0.9, latent_idx=0),
             conds.VideoConditionByKeyframeIndex(keyframes=key, frame_idx=9, strength=0.8)]  # fmt: skip
    with torch.no_grad():
        rv, ra = H.denoise_audio_video(
            types.VideoPixelShape(1, 17, 64, 96, 24.0), items,
            require("ltx_core.components.noisers").GaussianNoiser(torch.Generator().manual_seed(3)), ltx2_sigmas(4),
            require("ltx_core.components.diffusion_steps").EulerDiffusionStep(),
            lambda s, v, a, st: S.euler_denoising_loop(s, v, a, st, denoise),
            require("ltx_pipelines.utils.types").PipelineComponents(torch.float32, torch.device("cpu")),
            torch.float32, torch.device("cpu"))  # fmt: skip
    ov, oa = _ours_guided(load_transformer(path, dtype=torch.float32), ctx, cond, key, vg, ag)
    assert torch.equal(ov, rv.latent) and torch.equal(oa, ra.latent)


def test_batched_guidance_passes_equal_separate_passes(guided_setup):
    path, ctx, cond, key = guided_setup
    model = load_transformer(path, dtype=torch.float32)
    vg = Guidance(cfg=3, stg=1, stg_blocks=(1,), rescale=0.7, modality=3)
    ag = Guidance(cfg=7, stg=1, stg_blocks=(0, 2), modality=3)
    separate = _ours_guided(model, ctx, cond, key, vg, ag)
    batched = _ours_guided(model, ctx, cond, key, vg, ag, batched=True)
    unguided = _ours_guided(model, ctx, cond, key, Guidance(), Guidance())
    for a, b, c in zip(separate, batched, unguided, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)  # one batch of 4 vs 4 passes: GEMM rounding only
        assert (a - c).abs().max() > 1e-2  # and the guidance matters
