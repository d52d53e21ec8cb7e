"""The DFR pipeline's building blocks (LTX-2.5) against ltx-pipelines 1.2.0, for `ltx parity` (part `dfr`): the
canvas and tile arithmetic, generated keyframe slots as conditioning beside the other conditionings, and two
temporal rounds on the tiny LTX-2.5 transformer. Float32; every compared tensor is expected bitwise equal.

`official_temporal_round` is the official pipeline's loop over a round's tiles (`DFRPipeline.__call__`)
assembled from the official pieces: `tile_ranges`, keyframe conditionings at the anchor strength,
`VideoGeneratedKeyframeSlots` seeded by `_slot_initials_from_video`, the official noiser, ancestral Euler loop and
`SimpleDenoiser`, then `stitch_tile_latents` and `_merge_carry_forward_keyframes`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import ensure_torchaudio, require


def official_temporal_round(
    x0_model,
    video_context: torch.Tensor,
    video: torch.Tensor,
    seams: Sequence[int],
    keyframes: torch.Tensor,
    *,
    round_index: int,
    fps: float,
    seed: int,
    generator: torch.Generator,
    model_dtype: torch.dtype = torch.bfloat16,
    sigmas: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Round `round_index` of the official pipeline on `video` (already upsampled x2 in time) with no images,
    the official transformer wrapped in `X0Model` as `x0_model`; `sigmas`: the pipeline's (None) or others."""
    layout, dfr = require("ltx_pipelines.dfr_layout"), require("ltx_pipelines.dfr_pipeline")
    cond, types, tools = require("ltx_core.conditioning"), require("ltx_core.types"), require("ltx_core.tools")
    patch, noisers = require("ltx_core.components.patchifiers"), require("ltx_core.components.noisers")
    steps, constants = require("ltx_core.components.diffusion_steps"), require("ltx_pipelines.utils.constants")
    helpers, samplers = require("ltx_pipelines.utils.helpers"), require("ltx_pipelines.utils.samplers")
    denoiser = require("ltx_pipelines.utils.denoisers").SimpleDenoiser(video_context, None)
    sigmas = constants.DISTILLED_SIGMAS[4:] if sigmas is None else sigmas
    sigmas = sigmas.to(dtype=torch.float32, device=video.device)
    frames = (video.shape[2] - 1) * 8 + 1
    ranges = layout.tile_ranges(list(seams), frames, 2**round_index)
    where = {int(s): k for k, s in enumerate(seams)}
    time_base = min(fps, dfr._MAX_CONDITIONING_FPS)
    noiser = noisers.GaussianNoiser(generator=generator)
    outs, slot_frames, slot_parts = [], [], []
    for i, r in enumerate(ranges):
        part = video[:, :, r.latent_start : r.latent_end_exclusive]
        shape = types.VideoLatentShape.from_torch_shape(part.shape)
        vt = tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), shape, time_base)
        anchors = list(r.anchor_kf_global)
        items = dfr._keyframe_conditionings_from_latents(
            torch.cat([keyframes[:, :, where[a] : where[a] + 1] for a in anchors], dim=2),
            layout.remap_positions_to_local(anchors, r.pixel_start),
            strength=dfr._ANCHOR_KEYFRAME_STRENGTH,
        )
        local = layout.remap_positions_to_local(list(r.slot_kf_global), r.pixel_start)
        items.append(cond.VideoGeneratedKeyframeSlots(local, dfr._slot_initials_from_video(part, local, 8)))
        state = helpers.create_noised_state(vt, items, noiser, part.dtype, video.device, sigmas[0].item(), part)
        loop = partial(samplers.euler_ancestral_denoising_loop, noise_seed=seed + 1000 * round_index + i,
                       model_dtype=model_dtype)  # fmt: skip
        with torch.no_grad():
            state, _ = loop(sigmas, state, None, steps.EulerAncestralDiffusionStep(eta=dfr._TEMPORAL_ANCESTRAL_ETA),
                            x0_model, denoiser)  # fmt: skip
        state = vt.unpatchify(vt.clear_conditioning(state))
        outs.append(state.latent[:1])
        slot_frames += list(r.slot_kf_global)
        slot_parts.append(state.generated_keyframes)
    return official_round_end(outs, ranges, slot_frames, slot_parts, seams, keyframes)


def official_round_end(outs, ranges, slot_frames, slot_parts, seams, keyframes):
    """The end of an official temporal round: its tiles' latents stitched, and its slots carried forward into
    the next round's keyframes (a slot that two tiles share: the earlier tile's is kept).
    -> (latent, keyframe frames, keyframes)."""
    layout, dfr = require("ltx_pipelines.dfr_layout"), require("ltx_pipelines.dfr_pipeline")
    stitched = layout.stitch_tile_latents(outs, ranges)
    slots = torch.cat(slot_parts, dim=2)
    first: dict[int, int] = {}
    for k, f in enumerate(slot_frames):
        first.setdefault(f, k)
    kept = sorted(first)
    slots = torch.cat([slots[:, :, first[f] : first[f] + 1] for f in kept], dim=2)
    frames_next, keyframes_next = dfr._merge_carry_forward_keyframes(list(seams), keyframes, kept, slots)
    return stitched, frames_next, keyframes_next


# -- `ltx parity` ----------------------------------------------------------------------------------
def _layout() -> tuple[dict, dict]:
    """Canvases for 9 ... 1001 frames and the tiles of every temporal round (1-3, 1-8 tiles) on them, as numbers."""
    from ltx.pipelines import dfr_layout as ours

    theirs = require("ltx_pipelines.dfr_layout")
    a, b, ta, tb = [], [], [], []
    for frames in range(9, 1002, 8):
        c, (n, s, slots) = ours.canvas(frames), theirs.resolve_canvas(frames)
        a += [c.frames, c.segment, len(c.slots), sum(c.slots)]
        b += [n, s, len(slots), sum(slots)]
        seams, n = list(c.slots), c.frames
        for r in range(1, 4):
            seams, n = [2 * f for f in seams], 2 * (n - 1) + 1
            for count in range(1, 9):
                ta += [v for t in ours.tiles(seams, n, count) for v in (*t[:4], *t.anchors, *t.slots, t.drop)]
                tb += [v for t in theirs.tile_ranges(seams, n, count) for v in (*t[:4], *t.anchor_kf_global,
                                                                                  *t.slot_kf_global,
                                                                                  t.drop_latent_prefix)]  # fmt: skip
            seams = sorted({*seams, *(f for t in ours.tiles(seams, n, 2**r) for f in t.slots)})
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return ({"canvas (9..1001 frames)": as_tensor(a), "tiles (rounds 1-3, 1-8 tiles)": as_tensor(ta)},
            {"canvas (9..1001 frames)": as_tensor(b), "tiles (rounds 1-3, 1-8 tiles)": as_tensor(tb)})  # fmt: skip


def _slots(device) -> tuple[dict, dict]:
    """Seeded slots between an image at frame 0, a 0.95 anchor and an IC-LoRA reference with an attention
    strength (batch 2), noised at 0.725 and read back."""
    from ltx.sampling import add_noise, append_keyframe, append_reference, replace_frames, video_state
    from ltx.sampling.keyframe_slots import append_keyframe_slots, slot_latents

    cond, tools, types = require("ltx_core.conditioning"), require("ltx_core.tools"), require("ltx_core.types")
    patch, noisers = require("ltx_core.components.patchifiers"), require("ltx_core.components.noisers")
    g = torch.Generator().manual_seed(0)
    shape, fps, frames = (2, 128, 7, 2, 3), 25.0, (4, 24, 48)
    rand = lambda *s: torch.randn(*s, generator=g).to(device)  # noqa: E731
    initial, image, anchor, ref_video, seeds = (rand(*shape), rand(2, 128, 1, 2, 3), rand(2, 128, 1, 2, 3),
                                                rand(2, 128, 2, 1, 1), rand(2, 128, 3, 2, 3))  # fmt: skip
    vt = tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), types.VideoLatentShape(*shape), fps)
    expected = vt.create_initial_state(device, torch.float32, initial)
    for item in (cond.VideoConditionByLatentIndex(latent=image, strength=1.0, latent_idx=0),
                 cond.VideoConditionByKeyframeIndex(keyframes=anchor, frame_idx=48, strength=0.95),
                 cond.ConditioningItemAttentionStrengthWrapper(
                     cond.VideoConditionByReferenceLatent(latent=ref_video, downscale_factor=2, strength=1.0),
                     attention_mask=0.6),
                 cond.VideoGeneratedKeyframeSlots(pixel_frame_indices=frames, initial_keyframes=seeds)):  # fmt: skip
        expected = item.apply_to(expected, vt)
    ours = replace_frames(video_state(initial, shape, fps, dtype=torch.float32, device=device), image, 1.0, 0)
    ours = append_reference(append_keyframe(ours, anchor, 48, 0.95, fps), ref_video, fps, 2, 1.0, 0.6)
    ours = append_keyframe_slots(ours, frames, fps, seeds)
    noised = noisers.GaussianNoiser(torch.Generator(device).manual_seed(1))(expected, 0.725)
    ours_noised = add_noise(ours, torch.Generator(device).manual_seed(1), 0.725)
    fields = (("tokens", "latent", "latent"), ("denoise mask", "mask", "denoise_mask"),
              ("positions", "positions", "positions"), ("clean", "clean", "clean_latent"),
              ("keyframes mask", "keyframes", "keyframes_mask"),
              ("attention mask", "attention", "attention_mask"))  # fmt: skip
    a = {f"slot state {label}": getattr(ours, mine).float() for label, mine, _ in fields}
    b = {f"slot state {label}": getattr(expected, theirs).float() for label, _, theirs in fields}
    a["slot state noised"], b["slot state noised"] = ours_noised.latent, noised.latent
    a["slots read back"], b["slots read back"] = slot_latents(ours_noised), vt.extract_generated_keyframes(noised)
    return a, b


def rounds(path, device, sigmas: Sequence[float] | None = None) -> tuple[dict, dict]:
    """Rounds 1 (2 tiles, 48 fps) and 2 (4 tiles, 96 fps capped at 60) on the tiny LTX-2.5 transformer file at
    `path`, ours and the official, over the pipeline's sigmas (or `sigmas`); each fed the next round's input
    from our output (its latent repeated x2 in time, a stand-in for the upsampler; the seams doubled)."""
    from ltx import load_transformer
    from ltx.parity.oracle import OfficialTransformer
    from ltx.pipelines.dfr_layout import canvas
    from ltx.pipelines.dfr_rounds import temporal_round
    from ltx.sampling import Denoiser

    g = torch.Generator().manual_seed(4)
    context = torch.randn(1, 16, 40, generator=g).to(device)
    video, keyframes = torch.randn(1, 128, 13, 2, 3, generator=g), torch.randn(1, 128, 2, 2, 3, generator=g)
    video, keyframes, seams = video.to(device), keyframes.to(device), [2 * f for f in canvas(49).slots]
    model = load_transformer(path, device=device, dtype=torch.float32)
    official = require("ltx_core.model.transformer").X0Model(
        OfficialTransformer(path, torch.device(device), torch.float32, True).model
    )
    ours_gen, ref_gen = torch.Generator(device).manual_seed(9), torch.Generator(device).manual_seed(9)
    a, b = {}, {}
    for r, fps in ((1, 48.0), (2, 96.0)):
        kw = dict(round_index=r, fps=fps, seed=5, model_dtype=torch.float32)
        mine = {} if sigmas is None else {"sigmas": sigmas}
        ours = temporal_round(Denoiser(model, context), video, seams, keyframes, generator=ours_gen, **kw, **mine)
        theirs = {} if sigmas is None else {"sigmas": torch.tensor(sigmas)}
        ref = official_temporal_round(official, context, video, seams, keyframes, generator=ref_gen, **kw, **theirs)
        a[f"round {r} stitched latent"], b[f"round {r} stitched latent"] = ours[0], ref[0]
        a[f"round {r} keyframe frames"] = torch.tensor(ours[1], dtype=torch.float64)
        b[f"round {r} keyframe frames"] = torch.tensor(ref[1], dtype=torch.float64)
        a[f"round {r} keyframes"], b[f"round {r} keyframes"] = ours[2], ref[2]
        video = torch.cat([ours[0][:, :, :1], ours[0][:, :, 1:].repeat_interleave(2, dim=2)], dim=2)
        seams, keyframes = [2 * f for f in ours[1]], ours[2]
    return a, b


def dfr_parity(group: str, tiny_2_5, device: str | torch.device = "cpu") -> list[Row]:
    """The rows of the `dfr` part; `tiny_2_5`: the path of the built-in tiny LTX-2.5 transformer file (written
    there when absent)."""
    from pathlib import Path

    from ltx.parity.fixtures import write_tiny_checkpoint

    ensure_torchaudio()  # ltx-pipelines imports it
    if not Path(tiny_2_5).exists():
        write_tiny_checkpoint("ltx-2.5-tiny", tiny_2_5)
    rows = []
    for part in (_layout, lambda: _slots(device), lambda: rounds(tiny_2_5, device)):
        ours, ref = part()
        rows += compare_exact(group, ours, ref, tol=0.0)
    return rows
