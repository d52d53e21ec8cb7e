"""Sampling pieces against their ltx-core / ltx-pipelines 1.2.0 / ltx-video counterparts: schedules, guidance,
conditioning and the noiser, the Euler, ancestral Euler, CFG++ and res_2s loops, and batched guidance passes."""

from dataclasses import replace

import pytest
import torch
from util import needs_1_2

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
    ancestral_loop,
    append_keyframe,
    append_reference,
    audio_state,
    defaults,
    euler_loop,
    freeze,
    ltx2_sigmas,
    ltxv_timesteps,
    parse_model_version,
    replace_frames,
    res2s_loop,
    strip,
    time_region,
    unpatchify,
    version_defaults,
    video_state,
)

ensure_torchaudio()  # ltx-pipelines imports it; a stand-in where it cannot load


def _official_state(s):
    types = require("ltx_core.types")
    return types.LatentState(latent=s.latent, denoise_mask=s.mask, positions=s.positions, clean_latent=s.clean,
                             attention_mask=s.attention, keyframes_mask=s.keyframes, frozen=s.frozen)  # fmt: skip


def _official_denoiser(fn):
    """An ltx-pipelines Denoiser (transformer passed at call time, results wrapped) around fn(v, a, sigmas, i);
    fn may set `last_uncond` (the negative pass, for CFG++)."""
    result = require("ltx_pipelines.utils.types").DenoisedLatentResult

    def denoiser(transformer, video_state, audio_state, sigmas, step_index):
        v, a = fn(video_state, audio_state, sigmas, step_index)
        uv, ua = getattr(fn, "last_uncond", (None, None))
        return result(v, uncond=uv), result(a, uncond=ua)

    return denoiser


# -- schedules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [2, 3, 8, 30, 40])
@pytest.mark.parametrize("tokens", [None, 256, 6144])
@pytest.mark.oracle
def test_ltx2_schedule_equals_official(steps, tokens):
    sched = require("ltx_core.components.schedulers").LTX2Scheduler()
    ref = sched.execute(steps=steps, latent=None if tokens is None else torch.zeros(1, 1, tokens))
    assert torch.equal(ltx2_sigmas(steps, tokens), ref)


@pytest.mark.oracle
def test_schedule_constants_and_errors():
    consts = require("ltx_pipelines.utils.constants")
    assert list(DISTILLED_SIGMAS) == consts.DISTILLED_SIGMA_VALUES
    assert list(STAGE2_SIGMAS) == consts.STAGE_2_DISTILLED_SIGMA_VALUES
    with pytest.raises(ValueError, match="at least 2 steps"):
        ltx2_sigmas(1)  # ltx-core returns NaN or 0.1 for the first sigma here
    assert ltx2_sigmas(1, terminal=None).tolist() == pytest.approx([1.0, 0.0])


@pytest.mark.parametrize("steps, tokens", [(2, 128), (20, 6144), (40, 24576)])
@pytest.mark.oracle
def test_ltxv_schedule_equals_ltx_video(steps, tokens):
    rf = require("ltx_video.schedulers.rf").RectifiedFlowScheduler(shifting="SD3", target_shift_terminal=0.1)
    rf.set_timesteps(steps, samples_shape=torch.Size([1, tokens, 128]))
    assert torch.equal(ltxv_timesteps(steps, tokens), rf.timesteps)


# -- guidance -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rescale", [0.0, 0.7, 1.0])
@pytest.mark.oracle
@needs_1_2
def test_guidance_combination_equals_official(rescale):
    guiders = require("ltx_core.components.guiders")
    g = Guidance(cfg=3.0, stg=1.0, stg_blocks=(1,), rescale=rescale, modality=2.5)
    params = guiders.MultiModalGuiderParams(cfg_scale=3.0, stg_scale=1.0, stg_blocks=[1], rescale_scale=rescale,
                                            modality_scale=2.5)  # fmt: skip
    for dtype in (torch.float32, torch.bfloat16):  # the math runs in float32 either way
        x = [torch.randn(1, 40, 128, generator=torch.Generator().manual_seed(i)).to(dtype) for i in range(4)]
        got, ref = g.combine(*x), guiders.MultiModalGuider(params=params).calculate(*x)
        assert got.dtype == dtype and torch.equal(got, ref)
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


@pytest.mark.parametrize("version", [None, "", "2.0.0", "2.3.rc1", "2.3", "2.4-rc2", "2.4.0", "2.5.0", "3.0", "x"])
@pytest.mark.oracle
@needs_1_2
def test_version_defaults_equal_official(version, tmp_path):
    from safetensors.torch import save_file

    consts = require("ltx_pipelines.utils.constants")
    path = tmp_path / "v.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata=None if version is None else {"model_version": version})
    ref = consts.detect_params(str(path))
    ours = version_defaults(version)
    assert ours.steps == ref.num_inference_steps and ours.image_crf == ref.default_image_crf
    assert guider_params(ours.video) == ref.video_guider_params and guider_params(ours.audio) == ref.audio_guider_params
    assert parse_model_version(version) == consts.detect_model_version(str(path))
    distilled = require("ltx_pipelines.distilled")
    assert ours.ancestral_distilled == distilled.should_use_ancestral_sampler(str(path))


# -- conditioning ---------------------------------------------------------------------------------
def _tools(frames_lat=3, h=2, w=3, fps=24.0, dtype=torch.float32):
    types = require("ltx_core.types")
    tools = require("ltx_core.tools")
    patch = require("ltx_core.components.patchifiers")
    shape = types.VideoLatentShape(batch=1, channels=128, frames=frames_lat, height=h, width=w)
    return tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), shape, fps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.oracle
@needs_1_2
def test_video_conditioning_equals_official(dtype):
    cond = require("ltx_core.conditioning")
    tools = _tools()
    g = torch.Generator().manual_seed(0)
    first = torch.randn(1, 128, 1, 2, 3, generator=g).to(dtype)
    key = torch.randn(1, 128, 1, 2, 3, generator=g).to(dtype)
    ref_video = torch.randn(1, 128, 2, 1, 2, generator=g).to(dtype)
    initial = torch.randn(1, 128, 3, 2, 3, generator=g).to(dtype)
    ref = tools.create_initial_state("cpu", dtype, initial)
    ours = video_state(initial, (1, 128, 3, 2, 3), 24.0, dtype=dtype, device="cpu")
    steps = [
        (cond.VideoConditionByLatentIndex(latent=first, strength=0.9, latent_idx=0),
         lambda s: replace_frames(s, first, 0.9, 0)),
        (cond.VideoConditionByKeyframeIndex(keyframes=key, frame_idx=13, strength=0.7),
         lambda s: append_keyframe(s, key, 13, 0.7, 24.0)),
        (cond.ConditioningItemAttentionStrengthWrapper(
            cond.VideoConditionByReferenceLatent(latent=ref_video, downscale_factor=2, strength=1.0),
            attention_mask=0.4),
         lambda s: append_reference(s, ref_video, 24.0, 2, 1.0, 0.4)),
        (cond.VideoConditionByReferenceLatent(latent=ref_video, downscale_factor=1, strength=0.8,
                                              temporal_scale_factor=3),
         lambda s: append_reference(s, ref_video, 24.0, 1, 0.8, temporal_scale=3)),
    ]  # fmt: skip
    for official, mine in steps:
        ref, ours = official.apply_to(ref, tools), mine(ours)
        for a, b in ((ours.latent, ref.latent), (ours.mask, ref.denoise_mask), (ours.positions, ref.positions),
                     (ours.clean, ref.clean_latent), (ours.keyframes, ref.keyframes_mask)):  # fmt: skip
            assert a.dtype == b.dtype and torch.equal(a, b)
        assert (ours.attention is None) == (ref.attention_mask is None)
        if ours.attention is not None:
            assert torch.equal(ours.attention, ref.attention_mask)
    # the 1-frame keyframe at frame 13 spans [13, 14) / fps; appended tokens hold zeros in the latent
    assert ours.positions[0, 0, 18, :].tolist() == pytest.approx([13 / 24, 14 / 24])
    assert not ours.latent[:, 18:].any()
    noiser = require("ltx_core.components.noisers").GaussianNoiser
    for scale in (1.0, 0.725):  # the 1.2.0 noiser: lerp(clean, lerp(latent, noise, scale), mask) in float32
        noised = noiser(torch.Generator().manual_seed(5))(_official_state(ours), scale)
        assert torch.equal(add_noise(ours, torch.Generator().manual_seed(5), scale).latent, noised.latent)
    cleared = tools.clear_conditioning(ref)
    assert torch.equal(strip(ours).latent, cleared.latent) and torch.equal(
        unpatchify(strip(ours)), tools.unpatchify(cleared).latent
    )


@pytest.mark.oracle
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
def _loop_states(frozen_audio: bool = False):
    g = torch.Generator().manual_seed(0)
    v = video_state(torch.randn(1, 128, 2, 2, 2, generator=g), (1, 128, 2, 2, 2), 24.0, dtype=torch.float32,
                    device="cpu")  # fmt: skip
    v = replace(v, mask=torch.cat([torch.full((1, 4, 1), 0.3), v.mask[:, 4:]], dim=1))
    a = audio_state(torch.randn(1, 8, 5, 16, generator=g), (1, 8, 5, 16), dtype=torch.float32, device="cpu")
    w = torch.randn(128, 128, generator=g) / 12

    def denoise(video_state=None, audio_state=None, sigmas=None, step_index=None):
        s = sigmas[step_index]
        x = video_state.latent.float()
        denoise.last_uncond = ((x @ w.T * s - 0.2).float(), (audio_state.latent * 0.3).float())
        return (x @ w * (1 - s) + 0.1).float(), (audio_state.latent * 0.5 * s).float()

    return v, a, denoise


@pytest.mark.parametrize("eta", [0.5, 0.8])
@pytest.mark.oracle
@needs_1_2
def test_res2s_loop_equals_official(eta):
    samplers = require("ltx_pipelines.utils.samplers")
    steps = require("ltx_core.components.diffusion_steps")
    v, a, denoise = _loop_states()
    sigmas = ltx2_sigmas(4, 8)
    ours = res2s_loop(sigmas, v, a, denoise, seed=-1, model_dtype=torch.float32, eta=eta)
    ref = samplers.res2s_audio_video_denoising_loop(
        sigmas, _official_state(v), _official_state(a), steps.Res2sDiffusionStep(), None, _official_denoiser(denoise),
        model_dtype=torch.float32, eta=eta)  # fmt: skip
    assert torch.equal(ours[0].latent, ref[0].latent) and torch.equal(ours[1].latent, ref[1].latent)


@pytest.mark.parametrize("eta, s_noise, dtype", [(1.0, 1.0, torch.float32), (0.5, 0.7, torch.float32),
                                                 (0.0, 1.0, torch.float32), (1.0, 1.0, torch.bfloat16)])  # fmt: skip
@pytest.mark.oracle
@needs_1_2
def test_ancestral_euler_loop_equals_official(eta, s_noise, dtype):
    samplers = require("ltx_pipelines.utils.samplers")
    steps = require("ltx_core.components.diffusion_steps")
    v, a, denoise = _loop_states()
    sigmas = torch.tensor(DISTILLED_SIGMAS)
    ours = ancestral_loop(sigmas, v, a, denoise, seed=10007, eta=eta, s_noise=s_noise, model_dtype=dtype)
    ref = samplers.euler_ancestral_denoising_loop(
        sigmas, _official_state(v), _official_state(a), steps.EulerAncestralDiffusionStep(eta=eta, s_noise=s_noise),
        None, _official_denoiser(denoise), noise_seed=10007, model_dtype=dtype)  # fmt: skip
    assert torch.equal(ours[0].latent, ref[0].latent) and torch.equal(ours[1].latent, ref[1].latent)
    if eta == 0:  # eta 0 is the plain Euler loop up to float rounding
        plain = euler_loop(sigmas, v, a, denoise)
        torch.testing.assert_close(ours[0].latent, plain[0].latent, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta, s_noise", [(1.0, 1.0), (0.6, 0.0), (0.0, 1.0)])
@pytest.mark.oracle
@needs_1_2
def test_cfg_pp_loop_equals_official(eta, s_noise):
    samplers = require("ltx_pipelines.utils.samplers")
    steps = require("ltx_core.components.diffusion_steps")
    v, a, denoise = _loop_states()
    sigmas = ltx2_sigmas(5)
    ours = ancestral_loop(sigmas, v, a, denoise, seed=3, eta=eta, s_noise=s_noise, cfg_pp=True,
                          model_dtype=torch.float32)  # fmt: skip
    ref = samplers.euler_cfg_pp_denoising_loop(
        sigmas, _official_state(v), _official_state(a), steps.EulerCfgPpDiffusionStep(eta=eta, s_noise=s_noise),
        None, _official_denoiser(denoise), noise_seed=3, model_dtype=torch.float32)  # fmt: skip
    assert torch.equal(ours[0].latent, ref[0].latent) and torch.equal(ours[1].latent, ref[1].latent)


def test_ancestral_loop_errors():
    v, a, denoise = _loop_states()
    denoise.last_uncond = (None, None)
    plain = lambda *args: denoise(*args)[:2]  # noqa: E731  (no negative pass)
    with pytest.raises(ValueError, match="negative-prompt prediction"):
        ancestral_loop(ltx2_sigmas(3), v, a, plain, seed=0, cfg_pp=True)
    with pytest.raises(ValueError, match="video or an audio state"):
        ancestral_loop(ltx2_sigmas(3), None, None, denoise, seed=0)


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


def _official_guided(path, ctx, items, vg, ag, max_batch_size=1):
    """The official one-stage flow's sampling (DiffusionStage's steps, with the transformer given)."""
    H, S = require("ltx_pipelines.utils.helpers"), require("ltx_pipelines.utils.samplers")
    G, D = require("ltx_core.components.guiders"), require("ltx_pipelines.utils.denoisers")
    types, tools = require("ltx_core.types"), require("ltx_core.tools")
    patch = require("ltx_core.components.patchifiers")
    x0 = require("ltx_core.model.transformer").X0Model(
        OfficialTransformer(path, torch.device("cpu"), torch.float32, True).model
    )
    model = require("ltx_core.batch_split").BatchSplitAdapter(x0, max_batch_size=max_batch_size)
    denoiser = D.FactoryGuidedDenoiser(ctx[0], ctx[1], G.create_multimodal_guider_factory(guider_params(vg), ctx[2]),
                                       G.create_multimodal_guider_factory(guider_params(ag), ctx[3]))  # fmt: skip
    noiser = require("ltx_core.components.noisers").GaussianNoiser(torch.Generator().manual_seed(3))
    shape = types.VideoPixelShape(batch=1, frames=17, height=64, width=96, fps=24.0)
    vt = tools.VideoLatentTools(patch.VideoLatentPatchifier(1), types.VideoLatentShape.from_pixel_shape(shape), 24.0)
    at = tools.AudioLatentTools(patch.AudioPatchifier(1), types.AudioLatentShape.from_video_pixel_shape(shape))
    with torch.no_grad():
        v = H.create_noised_state(vt, items, noiser, torch.float32, torch.device("cpu"))
        a = H.create_noised_state(at, [], noiser, torch.float32, torch.device("cpu"))
        step = require("ltx_core.components.diffusion_steps").EulerDiffusionStep()
        v, a = S.euler_denoising_loop(ltx2_sigmas(4), v, a, step, model, denoiser)
    return vt.unpatchify(vt.clear_conditioning(v)).latent, at.unpatchify(at.clear_conditioning(a)).latent


@pytest.mark.oracle
@needs_1_2
def test_guided_euler_sampling_equals_official(guided_setup):
    path, ctx, cond, key = guided_setup
    conds = require("ltx_core.conditioning")
    vg = Guidance(cfg=3, stg=1, stg_blocks=(1,), rescale=0.7, modality=3)
    ag = Guidance(cfg=7, stg=1, stg_blocks=(1,), rescale=0.7, modality=3, skip_step=1)
    items = [conds.VideoConditionByLatentIndex(latent=cond, strength=0.9, latent_idx=0),
             conds.VideoConditionByKeyframeIndex(keyframes=key, frame_idx=9, strength=0.8)]  # fmt: skip
    rv, ra = _official_guided(path, ctx, items, vg, ag)
    ov, oa = _ours_guided(load_transformer(path, dtype=torch.float32), ctx, cond, key, vg, ag)
    assert torch.equal(ov, rv) and torch.equal(oa, ra)


@pytest.mark.oracle
@needs_1_2
def test_batched_guidance_passes_equal_separate_passes_and_the_official_batch(guided_setup):
    path, ctx, cond, key = guided_setup
    model = load_transformer(path, dtype=torch.float32)
    vg = Guidance(cfg=3, stg=1, stg_blocks=(1,), rescale=0.7, modality=3)
    ag = Guidance(cfg=7, stg=1, stg_blocks=(0, 2), modality=3, skip_step=1)
    separate = _ours_guided(model, ctx, cond, key, vg, ag)
    batched = _ours_guided(model, ctx, cond, key, vg, ag, batched=True)
    conds = require("ltx_core.conditioning")
    items = [conds.VideoConditionByLatentIndex(latent=cond, strength=0.9, latent_idx=0),
             conds.VideoConditionByKeyframeIndex(keyframes=key, frame_idx=9, strength=0.8)]  # fmt: skip
    official = _official_guided(path, ctx, items, vg, ag, max_batch_size=4)  # the passes as one batch
    assert all(torch.equal(a, b) for a, b in zip(batched, official, strict=True))  # bitwise, skipped steps too
    unguided = _ours_guided(model, ctx, cond, key, Guidance(), Guidance())
    for a, b, c in zip(separate, batched, unguided, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)  # one batch of 4 vs 4 passes: GEMM rounding only
        assert (a - c).abs().max() > 1e-2  # and the guidance matters


# -- without the oracle: the sampling math on its own and with a tiny model of our own -------------
def test_noiser_and_freeze_follow_their_formulas():
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(1, 128, 2, 2, 2, generator=g)
    s = video_state(clean, (1, 128, 2, 2, 2), 24.0, dtype=torch.float32, device="cpu")
    s = append_keyframe(replace_frames(s, torch.randn(1, 128, 1, 2, 2, generator=g), 0.75), clean[:, :, :1], 8, 1.0,
                        24.0)  # fmt: skip
    noise = torch.randn(s.latent.shape, generator=torch.Generator().manual_seed(1))
    for scale in (1.0, 0.4):
        got = add_noise(s, torch.Generator().manual_seed(1), scale).latent
        expected = s.clean + s.mask * ((1 - scale) * s.latent + scale * noise - s.clean)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
        assert torch.equal(got[:, 8:], s.clean[:, 8:])  # strength 1: kept exactly
    frozen = freeze(s)
    assert frozen.frozen and not frozen.mask.any() and strip(frozen).frozen
    assert s.keyframes[0, :4].eq(1).all() and not s.keyframes[0, 4:].any()  # the first latent frame only


def test_ancestral_and_cfg_pp_steps_reduce_to_euler():
    from ltx.sampling import ancestral_step, cfg_pp_step, euler_step

    g = torch.Generator().manual_seed(0)
    x, x0, noise = (torch.randn(2, 6, 128, generator=g) for _ in range(3))
    sigmas = torch.tensor([1.0, 0.7, 0.2, 0.0])
    for i in range(3):
        plain = euler_step(x, x0, sigmas[i], sigmas[i + 1]) if i < 2 else x0
        torch.testing.assert_close(ancestral_step(x, x0, sigmas, i, eta=0.0), plain, rtol=1e-5, atol=1e-5)
    assert torch.equal(ancestral_step(x, x0, sigmas, 2, noise), x0)  # to sigma 0: the prediction
    # eta 1 with a perfect prediction of x = (1 - s) x0 + s n keeps the noise level: x_next's noise part has
    # std sigma_next, whatever fresh noise it drew
    clean, n = torch.randn(20000, generator=g), torch.randn(20000, generator=g)
    out = ancestral_step(0.3 * clean + 0.7 * n, clean, sigmas, 1, torch.randn(20000, generator=g), eta=1.0)
    assert abs(((out - 0.8 * clean).std() - 0.2).item()) < 0.01
    # CFG++ with uncond == cond and eta 0 is the Euler step (alpha-weighted form of the same line)
    torch.testing.assert_close(cfg_pp_step(x, x0, x0, sigmas, 1, eta=0.0), euler_step(x, x0, sigmas[1], sigmas[2]),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="needs a noise tensor"):
        ancestral_step(x, x0, sigmas, 0, eta=1.0)


def test_model_versions_pick_the_official_settings():
    assert [parse_model_version(v) for v in ("2.3.rc1", "2.4-rc2", "2.5.0", None, "beta")] == [
        (2, 3), (2, 4), (2, 5, 0), (), ()]  # fmt: skip
    rows = {v: version_defaults(v) for v in ("2.0.0", "2.3.0", "2.4.0", "2.5.0", "3.1")}
    assert [(d.steps, d.video.stg_blocks, d.image_crf, d.ancestral_distilled) for d in rows.values()] == [
        (40, (29,), 33, False), (30, (28,), 33, False), (30, (28,), 18, False), (30, (28,), 18, True),
        (30, (28,), 18, True)]  # fmt: skip


def test_audio_only_denoiser_on_a_tiny_model():
    """No video stream: the denoiser runs the audio stream alone, guided on the audio only."""
    import tempfile

    from ltx.dit import load_transformer as load
    from ltx.testing import write_tiny_checkpoint

    with tempfile.TemporaryDirectory() as d:
        model = load(write_tiny_checkpoint("ltx-2.3-tiny", f"{d}/t.safetensors"), dtype=torch.float32,
                     audio_only=True)  # fmt: skip
    g = torch.Generator().manual_seed(2)
    ctx, neg = torch.randn(1, 8, 20, generator=g), torch.randn(1, 8, 20, generator=g)
    a = add_noise(audio_state(None, (1, 8, 5, 16), dtype=torch.float32, device="cpu"), g)
    guided = Denoiser(model, None, ctx, audio_guidance=Guidance(cfg=4.0), audio_negative=neg)
    x0v, x0a = guided(None, a, ltx2_sigmas(3), 0)
    assert x0v is None and x0a.shape == a.latent.shape and torch.isfinite(x0a).all()
    cond, uncond = (Denoiser(model, None, c)(None, a, ltx2_sigmas(3), 0)[1] for c in (ctx, neg))
    torch.testing.assert_close(x0a, cond + 3.0 * (cond - uncond), rtol=1e-5, atol=1e-5)
    _, out = euler_loop(ltx2_sigmas(3), None, a, guided)
    assert out.latent.shape == a.latent.shape
