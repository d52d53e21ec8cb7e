"""The DFR pipeline's building blocks against ltx-core / ltx-pipelines 1.2.0: the canvas, tile and stitch
arithmetic (equal to `ltx_pipelines.dfr_layout` on every size tried, errors included) and the generated keyframe
slots as conditioning on a latent state (bitwise equal to `VideoGeneratedKeyframeSlots` applied to the official
latent tools' state, alone and beside the other conditionings, then noised, sampled and read back)."""

import random
from dataclasses import replace

import pytest
import torch

from ltx.parity.oracle import at_least, require
from ltx.pipelines.dfr_layout import (
    Tile,
    canvas,
    carry_forward,
    output_frames,
    segment_length,
    slot_seeds,
    stitch,
    tiles,
)
from ltx.sampling import add_noise, append_keyframe, append_reference, replace_frames, strip, unpatchify, video_state
from ltx.sampling.keyframe_slots import append_keyframe_slots, slot_latents

needs_dfr = pytest.mark.skipif(not at_least("1.2.0"), reason="DFR is new in ltx-core / ltx-pipelines 1.2.0")


def _outcome(fn, *args, **kwargs):
    """fn's result, or the kind of error it raised."""
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return ValueError


def _official_tile(t) -> Tile:
    return Tile(t.pixel_start, t.pixel_end, t.latent_start, t.latent_end_exclusive, t.anchor_kf_global,
                t.slot_kf_global, t.drop_latent_prefix)  # fmt: skip


# -- layout ---------------------------------------------------------------------------------------
@pytest.mark.oracle
@needs_dfr
def test_canvas_equals_official():
    layout = require("ltx_pipelines.dfr_layout")
    for content in range(-3, 600):
        assert _outcome(segment_length, content) == _outcome(layout.choose_segment_length, content), content
    for frames in range(-3, 1000):
        ref = _outcome(layout.resolve_canvas, frames)
        ours = _outcome(canvas, frames)
        if ref is ValueError:
            assert ours is ValueError, frames
        else:
            assert (ours.frames, ours.segment, list(ours.slots)) == ref, frames


def _round_seams(frames: int, rounds: int) -> list[tuple[list[int], int]]:
    """(seams, clip frames) of each temporal round of a DFR run on `frames`: the round-1 seams are the canvas
    slots doubled, later rounds add the previous round's tile slots."""
    c = canvas(frames)
    seams, n, out = list(c.slots), c.frames, []
    for r in range(1, rounds + 1):
        seams, n = [2 * s for s in seams], 2 * (n - 1) + 1
        out.append((seams, n))
        seams = sorted({*seams, *(s for t in tiles(seams, n, 2**r) for s in t.slots)})
    return out


@pytest.mark.oracle
@needs_dfr
def test_tiles_equal_official():
    layout = require("ltx_pipelines.dfr_layout")
    checked = 0
    for frames in range(9, 650, 8):
        for seams, n in _round_seams(frames, 3):
            for count in range(0, 9):
                for lead in (0, 1, 2):
                    ref = _outcome(layout.tile_ranges, seams, n, count, lead_segments=lead)
                    ours = _outcome(tiles, seams, n, count, lead=lead)
                    if ref is ValueError:
                        assert ours is ValueError, (seams, n, count, lead)
                        continue
                    assert ours == [_official_tile(t) for t in ref], (seams, n, count, lead)
                    for t, r in zip(ours, ref, strict=True):  # the window's frames and local slot frames
                        assert t.frames == (r.latent_end_exclusive - r.latent_start - 1) * 8 + 1
                        assert list(t.local(t.slots)) == layout.remap_positions_to_local(r.slot_kf_global,
                                                                                         r.pixel_start)  # fmt: skip
                    checked += 1
    assert checked > 2000
    rng = random.Random(0)  # arbitrary seams, valid or not: the same ones are refused
    for _ in range(3000):
        seams = sorted(rng.sample(range(1, 200), rng.randint(1, 6)))
        if rng.random() < 0.8:
            seams = [8 * s for s in seams]
        n = seams[-1] + 1 if rng.random() < 0.9 else seams[-1] + 9
        count = rng.randint(-1, 7)
        ref = _outcome(layout.tile_ranges, seams, n, count)
        ours = _outcome(tiles, seams, n, count)
        assert ours == (ref if ref is ValueError else [_official_tile(t) for t in ref]), (seams, n, count)


@pytest.mark.oracle
@needs_dfr
def test_stitch_equals_official():
    layout = require("ltx_pipelines.dfr_layout")
    g = torch.Generator().manual_seed(0)
    for frames in (9, 25, 97, 121, 161, 257):
        for seams, n in _round_seams(frames, 2):
            for count in (1, 2, 3, 4):
                ours_t, ref_t = tiles(seams, n, count), layout.tile_ranges(seams, n, count)
                xs = [torch.randn(2, 3, t.latent_stop - t.latent_start, 2, 1, generator=g) for t in ours_t]
                got = stitch(xs, ours_t)
                assert torch.equal(got, layout.stitch_tile_latents(xs, ref_t))
                assert got.shape[2] == (n - 1) // 8 + 1  # gapless: the clip's every latent frame once
    t = tiles([48, 96], 97, 2)
    x = [torch.zeros(1, 2, 7, 1, 1), torch.zeros(1, 2, 13, 1, 1)]
    for bad in ([x[0]], [x[0], x[0]], [x[0], x[1][:, :1]], [x[0], x[1][:, :, :, :, :0]], []):
        assert _outcome(stitch, bad, t) is ValueError
        with pytest.raises((ValueError, RuntimeError)):  # (torch.cat's error on mismatched sizes)
            layout.stitch_tile_latents(bad, layout.tile_ranges([48, 96], 97, 2))


@pytest.mark.oracle
@needs_dfr
def test_slot_seeds_and_carry_forward_equal_official():
    dfr = require("ltx_pipelines.dfr_pipeline")
    g = torch.Generator().manual_seed(0)
    video = torch.randn(1, 4, 13, 2, 3, generator=g)
    for frames in ([24, 48, 72, 96], [0, 3, 4, 5, 12, 20, 95, 96, 200], [7]):
        assert torch.equal(slot_seeds(video, frames), dfr._slot_initials_from_video(video, frames, 8))
    seams, slots = [48, 96, 144], [24, 72, 72, 120, 96, 120]  # lead-ins repeat slots; one slot on a seam
    seam_latents = torch.randn(1, 4, 3, 2, 3, generator=g)
    slot_lat = torch.randn(1, 4, 6, 2, 3, generator=g)
    first = {}  # the official pipeline keeps the first of repeated slots before merging
    for k, f in enumerate(slots):
        first.setdefault(f, k)
    kept = torch.cat([slot_lat[:, :, [first[f]]] for f in sorted(first)], dim=2)
    ref = dfr._merge_carry_forward_keyframes(seams, seam_latents, sorted(first), kept)
    ours = carry_forward(seams, seam_latents, slots, slot_lat)
    assert ours[0] == ref[0] and torch.equal(ours[1], ref[1])
    assert ours[0] == [24, 48, 72, 96, 120, 144]
    assert _outcome(carry_forward, seams, seam_latents[:, :, :2], [], None) is ValueError
    assert _outcome(carry_forward, [], None, [], None) is ValueError
    assert output_frames(121, 0) == 121 and output_frames(121, 2) == 481


def test_layout_errors_say_what_to_use():
    with pytest.raises(ValueError, match="use 121 or 129"):
        canvas(125)
    with pytest.raises(ValueError, match="use 9"):
        canvas(1)
    with pytest.raises(ValueError, match="last seam must be the clip's last frame 96"):
        tiles([48, 95], 97, 2)
    with pytest.raises(ValueError, match="at least 16 long"):
        tiles([8, 96], 97, 2)
    with pytest.raises(ValueError, match="tile count"):
        tiles([48, 96], 97, 0)
    assert canvas(121) == (121, 24, (24, 48, 72, 96, 120)) and canvas(97) == (97, 32, (32, 64, 96))
    assert canvas(9) == (25, 24, (24,)) and canvas(113) == (121, 24, (24, 48, 72, 96, 120))


# -- keyframe slots as conditioning ---------------------------------------------------------------
def _official_tools(b, f, h, w, fps):
    types, tools = require("ltx_core.types"), require("ltx_core.tools")
    patch = require("ltx_core.components.patchifiers")
    shape = types.VideoLatentShape(batch=b, channels=128, frames=f, height=h, width=w)
    return tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), shape, fps)


def _official_state(s):
    types = require("ltx_core.types")
    return types.LatentState(latent=s.latent, denoise_mask=s.mask, positions=s.positions, clean_latent=s.clean,
                             attention_mask=s.attention, keyframes_mask=s.keyframes, frozen=s.frozen)  # fmt: skip


def _assert_state_equal(ours, ref):
    for a, b in ((ours.latent, ref.latent), (ours.mask, ref.denoise_mask), (ours.positions, ref.positions),
                 (ours.clean, ref.clean_latent), (ours.keyframes, ref.keyframes_mask)):  # fmt: skip
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    assert (ours.attention is None) == (ref.attention_mask is None)
    if ours.attention is not None:
        assert ours.attention.dtype == ref.attention_mask.dtype and torch.equal(ours.attention, ref.attention_mask)


CASES = [  # (batch, latent frames, H', W', fps, slot pixel frames, seeded, the other conditionings: order)
    (1, 4, 2, 3, 24.0, (24,), False, ""),
    (1, 4, 2, 3, 24.0, (8, 16, 24), True, ""),
    (2, 7, 1, 2, 25.0, (4, 24, 48), True, "image,key"),
    (1, 13, 2, 2, 30.0, (32, 64, 96), False, "key,ref"),
    (2, 5, 3, 1, 48.0, (3, 17, 32), True, "ref,image"),
    (1, 16, 1, 1, 60.0, (24, 48, 72, 96, 120), True, "image,ref,key"),
    (1, 3, 2, 2, 23.976, (0, 16), False, "image"),
]


@pytest.mark.oracle
@needs_dfr
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("index", range(len(CASES)))
def test_keyframe_slots_equal_official(dtype, index):
    """The conditioned state equals the official one bitwise, wherever the slots fall among the other
    conditionings (an image at frame 0, 0.95 anchors, an IC-LoRA reference with an attention mask); noised, then
    sampled (a stand-in update of every token), the slots read back equal `generated_keyframes`."""
    b, f, h, w, fps, frames, seeded, others = CASES[index]
    cond = require("ltx_core.conditioning")
    noiser = require("ltx_core.components.noisers").GaussianNoiser
    tools = _official_tools(b, f, h, w, fps)
    g = torch.Generator().manual_seed(index)
    rand = lambda *s: torch.randn(*s, generator=g).to(dtype)  # noqa: E731
    initial, image, anchors = rand(b, 128, f, h, w), rand(b, 128, 1, h, w), rand(b, 128, 2, h, w)
    ref_video, seeds = rand(b, 128, 2, 1, 1), rand(b, 128, len(frames), h, w) if seeded else None
    pairs = {
        "image": (cond.VideoConditionByLatentIndex(latent=image, strength=1.0, latent_idx=0),
                  lambda s: replace_frames(s, image, 1.0, 0)),
        "key": (cond.VideoConditionByKeyframeIndex(keyframes=anchors[:, :, 1:], frame_idx=8 * (f - 1), strength=0.95),
                lambda s: append_keyframe(s, anchors[:, :, 1:], 8 * (f - 1), 0.95, fps)),
        "ref": (cond.ConditioningItemAttentionStrengthWrapper(
                    cond.VideoConditionByReferenceLatent(latent=ref_video, downscale_factor=2, strength=1.0),
                    attention_mask=0.6),
                lambda s: append_reference(s, ref_video, fps, 2, 1.0, 0.6)),
    }  # fmt: skip
    order = [p for p in others.split(",") if p]
    steps = [pairs[p] for p in order[:1]]
    steps.append((cond.VideoGeneratedKeyframeSlots(pixel_frame_indices=frames, initial_keyframes=seeds),
                  lambda s: append_keyframe_slots(s, frames, fps, seeds)))  # fmt: skip
    steps += [pairs[p] for p in order[1:]]
    ref = tools.create_initial_state("cpu", dtype, initial)
    ours = video_state(initial, (b, 128, f, h, w), fps, dtype=dtype, device="cpu")
    for official, mine in steps:
        ref, ours = official.apply_to(ref, tools), mine(ours)
        _assert_state_equal(ours, ref)
    layout = ref.generated_keyframe_layout
    slots = ours.keyframes[0, ours.target :, 0].nonzero().flatten() + ours.target
    assert slots.tolist() == list(range(layout.first_token, layout.first_token + layout.num_tokens))
    assert ours.positions[0, 0, slots[0], :].tolist() == pytest.approx([frames[0] / fps, (frames[0] + 1) / fps])
    for scale in (1.0, 0.725):  # the 1.2.0 noiser: seeded slots start from their seeds mixed with noise
        noised = noiser(torch.Generator().manual_seed(5))(ref, scale)
        ours_noised = add_noise(ours, torch.Generator().manual_seed(5), scale)
        _assert_state_equal(ours_noised, noised)
        x0 = ours_noised.latent * 0.5 + torch.linspace(-1, 1, ours.latent.shape[1]).to(dtype)[None, :, None]
        cleared = tools.clear_conditioning(replace(noised, latent=x0))
        ours_done = replace(ours_noised, latent=x0)
        assert torch.equal(slot_latents(ours_done), cleared.generated_keyframes)
        assert torch.equal(unpatchify(strip(ours_done)), tools.unpatchify(cleared).latent)


def test_keyframe_slots_layout_and_errors():
    s = video_state(None, (2, 128, 4, 2, 3), 24.0, dtype=torch.float32, device="cpu")
    seeds = torch.randn(2, 128, 2, 2, 3)
    out = append_keyframe_slots(append_keyframe(s, torch.randn(2, 128, 1, 2, 3), 8, 1.0, 24.0), (9, 24), 24.0, seeds)
    assert out.latent.shape == (2, 24 + 6 + 12, 128) and torch.equal(slot_latents(out), seeds)
    assert out.keyframes[0, :, 0].tolist() == [1.0] * 6 + [0.0] * 18 + [0.0] * 6 + [1.0] * 12
    assert out.mask[:, -12:].eq(1).all() and not out.clean[:, -12:].any()
    assert out.positions[0, 0, -12:].mul(24).round().tolist() == [[9, 10]] * 6 + [[24, 25]] * 6
    assert slot_latents(s) is None and slot_latents(strip(out)) is None
    assert not append_keyframe_slots(s, (24,), 24.0).latent[:, 24:].any()
    for frames, match in (((), "at least one"), ((8, 8), "must increase"), ((25,), r"0\.\.24"), ((-1,), "increase")):
        with pytest.raises(ValueError, match=match):
            append_keyframe_slots(s, frames, 24.0)
    with pytest.raises(ValueError, match="already has keyframe slots"):
        append_keyframe_slots(out, (16,), 24.0)
    with pytest.raises(ValueError, match=r"\(2, 128, 2, 2, 3\)"):
        append_keyframe_slots(s, (9, 24), 24.0, torch.randn(2, 128, 2, 2, 2))
    with pytest.raises(ValueError, match="video state"):
        from ltx.sampling import audio_state

        append_keyframe_slots(audio_state(None, (1, 8, 5, 16), dtype=torch.float32, device="cpu"), (1,), 24.0)


# -- slots through the model -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_2_5(tmp_path_factory):
    from ltx.parity.fixtures import write_tiny_checkpoint

    return write_tiny_checkpoint("ltx-2.5-tiny", tmp_path_factory.mktemp("dfr") / "ltx-2.5-tiny.safetensors")


@pytest.mark.oracle
@needs_dfr
@pytest.mark.parametrize("sampler", ["euler", "ancestral"])
def test_slot_sampling_equals_official(tiny_2_5, sampler):
    """A DFR-style stage on the tiny LTX-2.5 transformer (keyframe embedding on): an image at frame 0, a 0.95
    anchor, seeded slots at the canvas's slot frames; stage-1 style (Euler, with audio) and temporal-tile style
    (ancestral Euler, eta 0.5, video only). The final latent and the slots are bitwise the official ones."""
    from ltx import load_transformer
    from ltx.audio.timing import audio_token_count
    from ltx.parity.oracle import OfficialTransformer
    from ltx.sampling import DISTILLED_SIGMAS, Denoiser, ancestral_loop, audio_state, euler_loop

    cond, types = require("ltx_core.conditioning"), require("ltx_core.types")
    tools, patch = require("ltx_core.tools"), require("ltx_core.components.patchifiers")
    H, S = require("ltx_pipelines.utils.helpers"), require("ltx_pipelines.utils.samplers")
    steps, D = require("ltx_core.components.diffusion_steps"), require("ltx_pipelines.utils.denoisers")
    path, fps, frames = tiny_2_5, 24.0, 49
    slots = canvas(frames).slots  # (24, 48)
    g = torch.Generator().manual_seed(2)
    vctx, actx = torch.randn(1, 16, 40, generator=g), torch.randn(1, 16, 20, generator=g)
    image, anchor = torch.randn(1, 128, 1, 2, 3, generator=g), torch.randn(1, 128, 1, 2, 3, generator=g)
    seeds = torch.randn(1, 128, len(slots), 2, 3, generator=g)
    with_audio = sampler == "euler"
    sigmas = torch.tensor(DISTILLED_SIGMAS[-5:] if with_audio else DISTILLED_SIGMAS[4:])

    model = load_transformer(path, dtype=torch.float32)
    assert model.keyframes_abs_pos_embedding.abs().sum() > 0  # the marker matters in this test
    gen = torch.Generator().manual_seed(3)
    v = video_state(None, (1, 128, 7, 2, 3), fps, dtype=torch.float32, device="cpu")
    v = append_keyframe(replace_frames(v, image, 1.0, 0), anchor, 24, 0.95, fps)
    v = add_noise(append_keyframe_slots(v, slots, fps, seeds), gen)
    a = None
    if with_audio:
        a = add_noise(audio_state(None, (1, 8, audio_token_count(frames, fps), 16), dtype=torch.float32,
                                  device="cpu"), gen)  # fmt: skip
    denoiser = Denoiser(model, vctx, actx if with_audio else None)
    probe = Denoiser(model, vctx, actx if with_audio else None)  # the marker reaches the model's output
    unmarked = replace(v, keyframes=torch.zeros_like(v.keyframes))
    assert not torch.equal(probe(v, a, sigmas, 0)[0], probe(unmarked, a, sigmas, 0)[0])
    if with_audio:
        v, _ = euler_loop(sigmas, v, a, denoiser)
    else:
        v, _ = ancestral_loop(sigmas, v, None, denoiser, seed=11, eta=0.5, model_dtype=torch.float32)
    ours_video, ours_slots = unpatchify(strip(v)), slot_latents(v)

    official = require("ltx_core.model.transformer").X0Model(
        OfficialTransformer(path, torch.device("cpu"), torch.float32, True).model
    )
    shape = types.VideoPixelShape(batch=1, frames=frames, height=64, width=96, fps=fps)
    vt = tools.VideoLatentTools(patch.VideoLatentPatchifier(1), types.VideoLatentShape.from_pixel_shape(shape), fps)
    items = [cond.VideoConditionByLatentIndex(latent=image, strength=1.0, latent_idx=0),
             cond.VideoConditionByKeyframeIndex(keyframes=anchor, frame_idx=24, strength=0.95),
             cond.VideoGeneratedKeyframeSlots(pixel_frame_indices=slots, initial_keyframes=seeds)]  # fmt: skip
    noiser = require("ltx_core.components.noisers").GaussianNoiser(torch.Generator().manual_seed(3))
    with torch.no_grad():
        rv = H.create_noised_state(vt, items, noiser, torch.float32, torch.device("cpu"))
        if with_audio:
            at = tools.AudioLatentTools(patch.AudioPatchifier(1), types.AudioLatentShape.from_video_pixel_shape(shape))
            ra = H.create_noised_state(at, [], noiser, torch.float32, torch.device("cpu"))
            rv, _ = S.euler_denoising_loop(sigmas, rv, ra, steps.EulerDiffusionStep(), official,
                                           D.SimpleDenoiser(vctx, actx))  # fmt: skip
        else:
            rv, _ = S.euler_ancestral_denoising_loop(sigmas, rv, None, steps.EulerAncestralDiffusionStep(eta=0.5),
                                                     official, D.SimpleDenoiser(vctx, None), noise_seed=11,
                                                     model_dtype=torch.float32)  # fmt: skip
    cleared = vt.clear_conditioning(rv)
    assert torch.equal(ours_slots, cleared.generated_keyframes)
    assert torch.equal(ours_video, vt.unpatchify(cleared).latent)


@pytest.mark.oracle
@needs_dfr
def test_temporal_rounds_equal_official(tiny_2_5):
    """Two temporal rounds (2 tiles at 48 fps, then 4 at 96 fps capped at 60) on the tiny LTX-2.5 transformer:
    anchors, seeded slots, ancestral Euler per tile with its own seed, stitching and the keyframes carried to the
    next round are bitwise the official pipeline's (its tile loop assembled from the official pieces)."""
    from ltx.parity.dfr import rounds
    from ltx.pipelines.dfr_rounds import TEMPORAL_SIGMAS

    constants = require("ltx_pipelines.utils.constants")
    assert torch.equal(torch.tensor(TEMPORAL_SIGMAS), constants.DISTILLED_SIGMAS[4:])
    ours, ref = rounds(tiny_2_5, "cpu", sigmas=(0.975, 0.725, 0.0))  # one noisy step, then x0: a short test
    assert sorted(ours) == sorted(ref) and len(ours) == 6
    for name in ours:
        assert ours[name].dtype == ref[name].dtype and torch.equal(ours[name], ref[name]), name
    assert ours["round 2 keyframe frames"].tolist() == [24, 48, 72, 96, 120, 144, 168, 192]
    assert ours["round 2 stitched latent"].shape == (1, 128, 25, 2, 3)


def test_temporal_round_errors():
    from ltx.pipelines.dfr_rounds import temporal_round

    def never(*args):
        raise AssertionError("the inputs are checked before any denoising")

    video, keyframes, gen = torch.zeros(1, 128, 13, 2, 3), torch.zeros(1, 128, 2, 2, 3), torch.Generator()
    kw = dict(round_index=1, fps=48.0, seed=0, generator=gen)
    with pytest.raises(ValueError, match=r"\(1, C, F', H', W'\)"):
        temporal_round(never, video[0], [48, 96], keyframes, **kw)
    with pytest.raises(ValueError, match="3 seams need"):
        temporal_round(never, video, [24, 48, 96], keyframes, **kw)
    with pytest.raises(ValueError, match="count from 1"):
        temporal_round(never, video, [48, 96], keyframes, **{**kw, "round_index": 0})
    with pytest.raises(ValueError, match="last seam"):
        temporal_round(never, video, [48, 88], keyframes, **kw)
