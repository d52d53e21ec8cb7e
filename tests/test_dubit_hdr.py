"""LTX-2.5 Dub-It and HDR building blocks against ltx-core / ltx-pipelines 1.2.0: the appended reference audio
(tokens, positions, strengths, clean values, noising, freezing), the latent-mask conditioning, the HDR
transfer curves and primaries, EXR reading and writing, and the HDR conditioning loaders."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from util import needs_1_2

from ltx import hdr
from ltx.media_hdr import (
    ColorSpace,
    aligned_size,
    exr_to_pixels,
    fit_and_reflect_pad,
    linear_to_srgb8,
    read_exr,
    sdr_video_to_pixels,
    write_exr,
    write_exr_frames,
)
from ltx.parity.oracle import ensure_torchaudio, require
from ltx.sampling import add_noise, audio_state, freeze, replace_frames, strip, unpatchify, video_state
from ltx.sampling.audio_reference import (
    REFERENCE_GAP,
    append_audio_reference,
    audio_reference_positions,
    replace_masked,
)
from ltx.sampling.latent_tiles import fit_count, latent_tiles, split_count

ensure_torchaudio()  # ltx-pipelines imports it; a stand-in where it cannot load (imports no official package)
oracle = pytest.mark.oracle  # the comparisons; the round trips and input checks run without the official packages


def _fields(ours, ref):
    return ((ours.latent, ref.latent), (ours.mask, ref.denoise_mask), (ours.positions, ref.positions),
            (ours.clean, ref.clean_latent))  # fmt: skip


def _assert_state_equal(ours, ref):
    for a, b in _fields(ours, ref):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    assert (ours.attention is None) == (ref.attention_mask is None)
    if ours.attention is not None:
        assert torch.equal(ours.attention, ref.attention_mask)
    assert (ours.keyframes is None) == (ref.keyframes_mask is None)


def _official_state(s):
    types = require("ltx_core.types")
    return types.LatentState(latent=s.latent, denoise_mask=s.mask, positions=s.positions, clean_latent=s.clean,
                             attention_mask=s.attention, keyframes_mask=s.keyframes, frozen=s.frozen)  # fmt: skip


def _audio_tools(batch, tokens):
    tools, types = require("ltx_core.tools"), require("ltx_core.types")
    patch = require("ltx_core.components.patchifiers")
    shape = types.AudioLatentShape(batch=batch, channels=8, frames=tokens, mel_bins=16)
    return tools.AudioLatentTools(patch.AudioPatchifier(patch_size=1), shape)


def _video_tools(batch, f, h, w, fps=24.0):
    tools, types = require("ltx_core.tools"), require("ltx_core.types")
    patch = require("ltx_core.components.patchifiers")
    shape = types.VideoLatentShape(batch=batch, channels=128, frames=f, height=h, width=w)
    return tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), shape, fps)


# -- Dub-It: the appended reference audio ------------------------------------------------------------
@oracle
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("tokens", "ref_tokens", "strength"), [(30, 37, 1.0), (26, 9, 0.7), (5, 1, 1.0)])
@needs_1_2
def test_audio_reference_equals_official(dtype, tokens, ref_tokens, strength):
    dubit, cond = require("ltx_pipelines.dubit"), require("ltx_core.conditioning")
    g = torch.Generator().manual_seed(tokens)
    ref = torch.randn(2, 8, ref_tokens, 16, generator=g).to(dtype)
    initial = torch.randn(2, 8, tokens, 16, generator=g).to(dtype)
    tools = _audio_tools(2, tokens)
    tokens_ref, positions = dubit.patchify_dubit_audio_reference_latent(ref, negative_positions=True, device="cpu")
    official = cond.AudioConditionByReferenceLatent(tokens_ref, positions, strength=strength)
    expected = official.apply_to(tools.create_initial_state("cpu", dtype, initial), tools)
    ours = append_audio_reference(audio_state(initial, (2, 8, tokens, 16), dtype=dtype, device="cpu"), ref, strength)
    _assert_state_equal(ours, expected)
    assert torch.equal(audio_reference_positions(ref_tokens, batch=2), positions)
    # the noiser and the frozen stage-2 audio (noise scale 0, strengths 0, sigma seen as 0)
    noiser = require("ltx_core.components.noisers").GaussianNoiser
    for scale in (1.0, 0.0):
        noised = noiser(torch.Generator().manual_seed(3))(_official_state(ours), scale)
        assert torch.equal(add_noise(ours, torch.Generator().manual_seed(3), scale).latent, noised.latent)
    frozen = freeze(add_noise(ours, torch.Generator().manual_seed(3), 0.0))
    assert frozen.frozen and not frozen.mask.any()
    assert torch.equal(frozen.latent[:, :tokens], ours.clean[:, :tokens])  # the generated track stays as given
    # the reference goes before decoding: what is left is the generated track
    cleared = tools.clear_conditioning(expected)
    assert torch.equal(strip(ours).latent, cleared.latent)
    assert torch.equal(unpatchify(strip(ours)), tools.unpatchify(cleared).latent)


@oracle
@needs_1_2
def test_audio_reference_grows_an_existing_attention_mask_like_official():
    cond = require("ltx_core.conditioning")
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(1, 8, 4, 16, generator=g)
    state = audio_state(torch.randn(1, 8, 6, 16, generator=g), (1, 8, 6, 16), dtype=torch.float32, device="cpu")
    state = replace(state, attention=torch.rand(1, 6, 6, generator=g))
    tools = _audio_tools(1, 6)
    positions = audio_reference_positions(4)
    tokens = require("ltx_core.components.patchifiers").AudioPatchifier(patch_size=1).patchify(ref)
    expected = cond.AudioConditionByReferenceLatent(tokens, positions).apply_to(_official_state(state), tools)
    _assert_state_equal(append_audio_reference(state, ref), expected)


def test_audio_reference_positions():
    p = audio_reference_positions(26, batch=3)
    assert p.shape == (3, 1, 26, 2) and p.dtype == torch.float32
    assert p[0, 0, -1, 1].item() == pytest.approx(-REFERENCE_GAP, abs=1e-7)  # ends 40 ms before time 0
    assert p[0, 0, 0, 0].item() == pytest.approx(-(101 * 0.01) - REFERENCE_GAP, abs=1e-6)  # 26 tokens end at 1.01 s
    assert torch.all(p[..., 1] > p[..., 0]) and torch.all(p < 0)
    with pytest.raises(ValueError, match="at least one"):
        audio_reference_positions(0)


def test_audio_reference_errors():
    a = audio_state(None, (2, 8, 5, 16), dtype=torch.float32, device="cpu")
    v = video_state(None, (2, 128, 2, 2, 2), 24.0, dtype=torch.float32, device="cpu")
    ref = torch.randn(2, 8, 3, 16)
    with pytest.raises(ValueError, match="audio state"):
        append_audio_reference(v, ref)
    for bad in (torch.randn(1, 8, 3, 16), torch.randn(2, 8, 3, 8), torch.randn(2, 8, 0, 16), torch.randn(2, 24, 16)):
        with pytest.raises(ValueError, match="reference audio latent has shape"):
            append_audio_reference(a, bad)
    for strength in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="strength"):
            append_audio_reference(a, ref, strength)
    nan = ref.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        append_audio_reference(a, nan)
    with pytest.raises(ValueError, match="positions have shape"):
        append_audio_reference(a, ref, positions=torch.zeros(2, 1, 4, 2))


# -- the latent mask (VideoConditionByMask) -----------------------------------------------------------
@oracle
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("strength", [1.0, 0.6])
@needs_1_2
def test_replace_masked_equals_official(dtype, strength):
    cond = require("ltx_core.conditioning")
    g = torch.Generator().manual_seed(2)
    shape = (2, 128, 3, 2, 3)
    initial, latent = torch.randn(shape, generator=g).to(dtype), torch.randn(shape, generator=g).to(dtype)
    mask = (torch.rand(2, 3, 2, 3, generator=g) > 0.5).float()
    mask[1, 0, 0, 0] = 0.25  # fractional values blend
    first = torch.randn(2, 128, 1, 2, 3, generator=g).to(dtype)
    tools = _video_tools(2, 3, 2, 3)
    ref = cond.VideoConditionByLatentIndex(latent=first, strength=0.9, latent_idx=0).apply_to(
        tools.create_initial_state("cpu", dtype, initial), tools
    )
    ref = cond.VideoConditionByMask(latent=latent, mask=mask, strength=strength).apply_to(ref, tools)
    ours = video_state(initial, shape, 24.0, dtype=dtype, device="cpu")
    ours = replace_masked(replace_frames(ours, first, 0.9, 0), latent, mask, strength)
    _assert_state_equal(ours, ref)
    assert torch.equal(ours.keyframes, ref.keyframes_mask)
    assert 0 < (ours.mask == 1).sum() < ours.mask.numel()


def test_replace_masked_errors():
    s = video_state(None, (1, 128, 3, 2, 3), 24.0, dtype=torch.float32, device="cpu")
    a = audio_state(None, (1, 8, 5, 16), dtype=torch.float32, device="cpu")
    latent, mask = torch.zeros(1, 128, 3, 2, 3), torch.ones(1, 3, 2, 3)
    with pytest.raises(ValueError, match="video state"):
        replace_masked(a, latent, mask)
    with pytest.raises(ValueError, match="latent has shape"):
        replace_masked(s, torch.zeros(1, 128, 2, 2, 3), mask)
    with pytest.raises(ValueError, match="mask has shape"):
        replace_masked(s, latent, torch.ones(1, 1, 3, 2, 3))
    for bad in (float("nan"), 1.5, -0.5):
        m = mask.clone()
        m[0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match="NaN|in \\[0, 1\\]"):
            replace_masked(s, latent, m)
    with pytest.raises(ValueError, match="strength"):
        replace_masked(s, latent, mask, 2.0)


# -- HDR transfers ----------------------------------------------------------------------------------
def _linear(seed=0):
    g = torch.Generator().manual_seed(seed)
    parts = [torch.rand(1, 3, 2, 4, 5, generator=g) * 0.02,  # the linear toe of both curves
             torch.rand(1, 3, 2, 4, 5, generator=g) * 40,  # highlights
             -torch.rand(1, 3, 1, 4, 5, generator=g)]  # fmt: skip
    return torch.cat(parts, dim=2)


_TRANSFERS = [(hdr.Transfer.LOGC3, "LOGC3"), (hdr.Transfer.ACESCCT, "ACESCCT")]
_PRIMARIES = [(hdr.Primaries.REC709, "REC709"), (hdr.Primaries.ACESCG, "ACESCG")]


@oracle
@pytest.mark.parametrize(("transfer", "name"), _TRANSFERS)
@pytest.mark.parametrize(("primaries", "pname"), _PRIMARIES)
@needs_1_2
def test_hdr_transfers_equal_official(transfer, name, primaries, pname):
    """Bitwise: the same float32 elementwise ops and the same 3x3 einsum on both sides."""
    official = getattr(require("ltx_core.hdr").HDRTransfer, name)
    prim = getattr(require("ltx_core.color.primaries").Primaries, pname)
    lin = _linear()
    codes = hdr.to_working_space(lin, transfer, primaries)
    assert torch.equal(codes, official.to_working_space(lin, source_primaries=prim))
    assert torch.equal(hdr.to_linear(codes, transfer, primaries), official.to_linear(codes, out_primaries=prim))
    x = torch.linspace(-0.2, 1.2, 2001)  # both sides of each break, and out of range
    assert torch.equal(transfer.encode(x * 60), official.compress(x * 60))
    assert torch.equal(transfer.decode(x), official.decompress(x))
    assert transfer.label == official.display_name and transfer.primaries.value == official.native_primaries.value
    assert primaries.exr_chromaticities == prim.exr_chromaticities
    # (F, H, W, 3) decoded frames -> linear, as the HDR pipelines turn the VAE output into EXR frames
    frames = torch.rand(3, 4, 5, 3, generator=torch.Generator().manual_seed(1))
    decode_hdr_video = require("ltx_pipelines.utils.media_io").decode_hdr_video
    assert torch.equal(hdr.decoded_to_linear(frames, transfer, primaries), decode_hdr_video(frames, official, prim))


@oracle
@needs_1_2
def test_primaries_and_vae_range_equal_official():
    prim = require("ltx_core.color.primaries")
    rng = require("ltx_pipelines.utils.media_io.range_map")
    assert torch.equal(hdr.ACESCG_TO_REC709, prim.ACESCG_TO_SRGB)
    assert torch.equal(hdr.REC709_TO_ACESCG, prim.SRGB_TO_ACESCG)
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0)) * 3
    for src, tgt in ((hdr.Primaries.REC709, hdr.Primaries.ACESCG), (hdr.Primaries.ACESCG, hdr.Primaries.REC709)):
        expected = prim.Primaries(src.value).to(prim.Primaries(tgt.value), x)
        assert torch.equal(hdr.convert_primaries(x, src, tgt), expected)
    y = torch.rand(1, 3, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(hdr.to_vae_range(y), rng.to_vae_range(y))
    z = torch.randn(1, 3, 2, 4, 4, generator=torch.Generator().manual_seed(2)) * 1.5
    assert torch.equal(hdr.from_vae_range(z), rng.from_vae_range(z))


@pytest.mark.parametrize(("transfer", "top"), [(hdr.Transfer.LOGC3, 55.0), (hdr.Transfer.ACESCCT, 222.0)])
def test_hdr_round_trips(transfer, top):
    """decode(encode(x)) = x within float32 rounding of log/pow (relative 1e-5 over [0, the curve's top])."""
    x = torch.cat([torch.linspace(0, 0.02, 500), torch.logspace(-2, np.log10(top), 1500)])
    back = transfer.decode(transfer.encode(x))
    assert torch.all((back - x).abs() <= 1e-5 * x + 2e-7)
    codes = torch.linspace(transfer.encode(torch.tensor(0.0)).item(), 1, 3001)  # codes below black decode < 0
    assert (transfer.encode(transfer.decode(codes)) - codes).abs().max() <= 2e-6
    # codes stay in [0, 1]: negative light is black, beyond the top is clamped
    assert transfer.encode(torch.tensor([-5.0, 1e9])).tolist() == [transfer.encode(torch.tensor(0.0)).item(), 1.0]
    # in-gamut colours survive a primaries round trip
    grey = torch.rand(1, 3, 2, 4, 4, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.25
    there = hdr.convert_primaries(grey, hdr.Primaries.REC709, hdr.Primaries.ACESCG)
    assert (hdr.convert_primaries(there, hdr.Primaries.ACESCG, hdr.Primaries.REC709) - grey).abs().max() < 1e-6
    work = hdr.to_working_space(grey, transfer, hdr.Primaries.REC709)
    assert (hdr.to_linear(work, transfer, hdr.Primaries.REC709) - grey).abs().max() < 1e-5


def test_hdr_errors():
    nan = torch.ones(1, 3, 1, 2, 2)
    nan[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        hdr.to_working_space(nan, hdr.Transfer.LOGC3)
    with pytest.raises(ValueError, match="NaN"):
        hdr.to_linear(nan, hdr.Transfer.ACESCCT)
    with pytest.raises(ValueError, match="float"):
        hdr.to_working_space(torch.ones(1, 3, 1, 2, 2, dtype=torch.uint8), hdr.Transfer.LOGC3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hdr.to_vae_range(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="linear RGB"):
        hdr.convert_primaries(torch.ones(1, 4, 2, 2), hdr.Primaries.REC709, hdr.Primaries.ACESCG)
    with pytest.raises(ValueError, match="decoded frames"):
        hdr.decoded_to_linear(torch.rand(3, 4, 4), hdr.Transfer.LOGC3)


@oracle
@pytest.mark.parametrize(
    "metadata",
    [{}, {"hdr_transform": "logc3"}, {"hdr_transform": "acescct", "reference_downscale_factor": "2"},
     {"hdr_transform": "true"}, {"use_hdr_transform": "true"}],
)  # fmt: skip
@needs_1_2
def test_hdr_lora_metadata_equals_official(metadata, tmp_path):
    path = tmp_path / "lora.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata=metadata)
    official = require("ltx_pipelines.hdr_ic_lora").read_hdr_lora_config(str(path))
    ours = hdr.hdr_lora_transfer(metadata)
    assert (ours is None) == (official is None)
    if ours is not None:
        assert ours.value == official.hdr_transform.value
    with pytest.raises(ValueError, match="unknown hdr_transform"):
        hdr.hdr_lora_transfer({"hdr_transform": "pq"})


# -- EXR and HDR conditioning media ---------------------------------------------------------------------
@oracle
@needs_1_2
def test_exr_write_read_equal_official(tmp_path):
    exr = require("ltx_pipelines.utils.media_io.exr")
    prim = require("ltx_core.color.primaries")
    frame = torch.rand(6, 10, 3, generator=torch.Generator().manual_seed(0)) * 30 - 1  # highlights and negatives
    for half in (True, False):
        ours, theirs = tmp_path / f"ours{half}.exr", tmp_path / f"theirs{half}.exr"
        write_exr(ours, frame, half=half, primaries=hdr.Primaries.ACESCG, color_space="ACEScct")
        exr.save_exr_tensor(frame, str(theirs), half=half, primaries=prim.Primaries.ACESCG, color_space="ACEScct")
        assert ours.read_bytes() == theirs.read_bytes()
        back = read_exr(ours)
        assert torch.equal(back, exr.read_exr(theirs))
        assert torch.equal(back, frame.half().float() if half else frame)  # float32 round trips exactly
    write_exr(tmp_path / "chw.exr", frame.permute(2, 0, 1), half=False)  # (3, H, W) is accepted too
    assert torch.equal(read_exr(tmp_path / "chw.exr"), frame)
    paths = write_exr_frames(tmp_path / "seq", torch.stack([frame, frame * 2]), half=False)
    assert [p.name for p in paths] == ["frame_00000.exr", "frame_00001.exr"]
    assert torch.equal(read_exr(paths[1]), frame * 2)


@oracle
@pytest.mark.parametrize(("src", "dst"), [((12, 20), (16, 32)), ((40, 30), (16, 32)), ((8, 8), (32, 32)),
                                          ((33, 47), (64, 64)), ((20, 20), (20, 20))])  # fmt: skip
@needs_1_2
def test_fit_and_reflect_pad_equals_official(src, dst):
    resize = require("ltx_pipelines.utils.media_io.resize")
    x = torch.rand(2, *src, 3, generator=torch.Generator().manual_seed(0))
    for frames in (x, x[0], x[:1]):  # values and memory layout (a later einsum's rounding depends on it)
        ours, theirs = fit_and_reflect_pad(frames, *dst), resize.resize_and_reflect_pad(frames, *dst)
        assert torch.equal(ours, theirs) and ours.stride() == theirs.stride()
    for h, w in ((src[0], src[1]), (100, 33), (64, 64)):
        gw, gh, _, _ = resize.align_resolution(w, h, resize.ResizeMode.REFLECT_PAD, divisor=64)
        assert aligned_size(h, w) == (gh, gw)


@oracle
@pytest.mark.parametrize("space", list(ColorSpace))
@needs_1_2
def test_exr_conditioning_equals_official(space, tmp_path):
    media = require("ltx_pipelines.utils.media_io")
    g = torch.Generator().manual_seed(1)
    folder = tmp_path / "frames"
    scale = 1.0 if space is ColorSpace.ACESCCT else 20.0
    write_exr_frames(folder, torch.rand(3, 20, 28, 3, generator=g) * scale, half=False)
    official_space = media.HDRColorSpace(space.value)
    for start, cap in ((0, 3), (1, 5)):
        theirs = torch.cat(list(media.load_exr_conditioning_hdr(
            folder, 16, 32, torch.float32, torch.device("cpu"), frame_cap=cap, frame_start=start,
            color_space=official_space)), dim=2)  # fmt: skip
        ours = exr_to_pixels(folder, 16, 32, space, frames=cap, start=start)
        assert ours.shape == theirs.shape and torch.equal(ours, theirs)
    assert space.exr_tags[1] == official_space.exr_output_tags()[1]
    assert space.exr_tags[0].value == official_space.exr_output_tags()[0].value


@oracle
@needs_1_2
def test_sdr_reference_and_preview_equal_official(tmp_path):
    from ltx.media import read_video, write_mp4

    media = require("ltx_pipelines.utils.media_io")
    exr = require("ltx_pipelines.utils.media_io.exr")
    g = torch.Generator().manual_seed(2)
    path = write_mp4(tmp_path / "ref.mp4", (torch.rand(9, 48, 64, 3, generator=g) * 255).to(torch.uint8), 24.0)
    theirs = torch.cat(
        list(
            media.load_video_conditioning_hdr(
                str(path), 32, 64, 9, torch.float32, torch.device("cpu"), resize_mode=media.ResizeMode.REFLECT_PAD
            )
        ),
        dim=2,
    )
    ours = sdr_video_to_pixels(read_video(path, 9), 32, 64)  # fmt: skip
    assert ours.shape == (1, 3, 9, 32, 64) and torch.equal(ours, theirs)
    lin = torch.rand(4, 6, 3, generator=g) * 1.4 - 0.1
    expected = (exr._linear_to_srgb(np.maximum(lin.numpy(), 0.0)) * 255.0 + 0.5).astype(np.uint8)
    # numpy's and torch's float32 pow may differ in the last ulp: at most one code value apart, rarely
    diff = (linear_to_srgb8(lin).int() - torch.from_numpy(expected).int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 0.02


def test_hdr_media_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_exr(tmp_path / "missing.exr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .exr"):
        exr_to_pixels(tmp_path / "empty", 16, 16, ColorSpace.SRGB_LINEAR)
    with pytest.raises(ValueError, match="EXR frame"):
        write_exr(tmp_path / "x.exr", torch.zeros(4, 4, 4))
    nan = torch.ones(4, 4, 3)
    nan[0, 0, 0] = float("nan")
    write_exr(tmp_path / "nan.exr", nan, half=False)
    for space in ColorSpace:
        with pytest.raises(ValueError, match="NaN"):
            exr_to_pixels(tmp_path / "nan.exr", 4, 4, space)
    with pytest.raises(ValueError, match="no EXR frames left"):
        exr_to_pixels(tmp_path / "nan.exr", 4, 4, ColorSpace.ACESCCT, start=1)
    with pytest.raises(ValueError, match="uint8"):
        sdr_video_to_pixels(torch.rand(2, 4, 4, 3), 4, 4)
    with pytest.raises(ValueError, match="positive"):
        aligned_size(0, 64)
    with pytest.raises(ValueError, match="frames"):
        fit_and_reflect_pad(torch.rand(4, 4), 4, 4)


# -- latent tiles (the HDR pipeline's tiled second stage) ----------------------------------------------------
_GRIDS = [(3, 4, 4), (2, 4, 6), (16, 17, 30), (5, 2, 9), (1, 1, 1), (9, 12, 7)]
_COUNTS = [((2, 8), (2, 6), (2, 6)), ((1, 0), (3, 2), (2, 1)), ((3, 1), (1, 0), (4, 0)), ((2, 0), (2, 0), (2, 0))]


@oracle
@pytest.mark.parametrize("grid", _GRIDS)
@needs_1_2
def test_latent_tiles_equal_official(grid):
    """The HDR pipeline's stage-2 layout (its count-based tiles, clamped to the latent) and blend weights."""
    tiling, types = require("ltx_core.tiling"), require("ltx_core.types")
    clamp = require("ltx_pipelines.hdr_ic_lora")._clamp_tile_to_latent
    for counts in _COUNTS:
        config = clamp(tiling.TileCountConfig(*(tiling.DimensionTilingConfig(*c) for c in counts)), grid)
        splitters = config.to_splitters(types.SpatioTemporalScaleFactors.default(), causal_temporal=False)
        ref = tiling.create_tiles(torch.Size(grid), list(splitters), [tiling.identity_mapping_operation] * 3)
        ours = latent_tiles(grid, counts)
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref, strict=True):
            assert o.slices == r.in_coords == r.out_coords and torch.equal(o.weights, r.blend_mask)


@pytest.mark.parametrize("grid", _GRIDS)
def test_latent_tile_weights_sum_to_one(grid):
    for counts in _COUNTS:
        total = torch.zeros(grid)
        for tile in latent_tiles(grid, counts):
            assert tile.weights.shape == tuple(s.stop - s.start for s in tile.slices)
            total[tile.slices] += tile.weights
        assert torch.allclose(total, torch.ones(grid), atol=1e-6)


def test_latent_tile_errors():
    assert fit_count(2, 8, 5) == (2, 3) and fit_count(3, 1, 2) == (1, 0) and fit_count(1, 4, 1) == (1, 4)
    with pytest.raises(ValueError, match=">= 1"):
        split_count(4, 0, 0)
    with pytest.raises(ValueError, match="cannot cover"):
        split_count(2, 3, 0)
    with pytest.raises(ValueError, match="not more than their overlap"):
        split_count(4, 2, 4)
    with pytest.raises(ValueError, match=">= 1"):
        latent_tiles((4, 4, 4), ((2, -1), (1, 0), (1, 0)))
