"""Tiled decoding with the LTX-2.5 diffusion decoder: the tile split, its checks, the tile choice for a memory
budget, and parity with ltx-core 1.2.0's tiled decode (oracle tests)."""

import itertools

import pytest
import torch
from util import needs_oracle

from ltx.config.diffusion_vae import LTX2_5_DIFFUSION_DECODER
from ltx.parity.diffusion_vae_fixtures import TINY_DIFFUSION_DECODER, vae_section
from ltx.vae import Tiling, decode, diffusion_tiling
from ltx.vae.diffusion_loading import load_diffusion_decoder
from ltx.vae.diffusion_tiling import DiffusionTiling, recommend
from ltx.vae.diffusion_tiling import decode as tiled_decode
from ltx.vae.tiling import split

CPU = torch.device("cpu")


def test_geometry_of_the_shipped_decoder():
    cfg = LTX2_5_DIFFUSION_DECODER
    # a cell of stage 4's input is 2 frames x 8 x 8 px; stage 5's 8 blocks of 3x7x7 windows see 12 cells past an
    # edge (96 px), stage 4's 2 blocks of 3x5x5 see 2 frames' cells (4 frames -> 8 with the latent step)
    assert (cfg.tile_scale, cfg.tile_min, cfg.tile_overlap) == ((2, 8, 8), (3, 5, 5), (8, 96))


def test_split_grows_a_short_last_tile():
    assert split(11, 6, 2) == [(0, 6, 0, 2), (4, 10, 2, 2), (8, 11, 2, 0)]
    assert split(11, 6, 2, min_size=4) == [(0, 6, 0, 2), (4, 10, 2, 3), (7, 11, 3, 0)]
    assert split(3, 6, 2, min_size=4) == [(0, 3, 0, 0)]


@needs_oracle("1.2.0")
def test_split_matches_ltx_core():
    from ltx_core.tiling import split_by_size

    for length, size, overlap, least in itertools.product(range(1, 30), range(2, 12), range(0, 6), (None, 3, 5)):
        if overlap >= size or (least is not None and least > size):
            continue
        theirs = [(i.start, i.end, i.left_ramp, i.right_ramp)
                  for i in split_by_size(size, overlap, min_tile_size=least)(length).intervals]  # fmt: skip
        assert split(length, size, overlap, least or 1) == theirs, (length, size, overlap, least)


def test_one_tile_is_the_untiled_decode(diffusion_vae_ours):
    decoder = load_diffusion_decoder(diffusion_vae_ours)
    latent = torch.randn(1, 16, 3, 4, 3, generator=torch.Generator().manual_seed(0))
    untiled = decoder(latent, generator=torch.Generator().manual_seed(1))
    for tiling in (DiffusionTiling(), DiffusionTiling(64, 256, 256, 8, 32)):  # no axis tiled; tiles past the video
        assert torch.equal(tiled_decode(decoder, latent, tiling, torch.Generator().manual_seed(1)), untiled)
    tiled = tiled_decode(decoder, latent, DiffusionTiling(16, 64, None, 8, 32), torch.Generator().manual_seed(1))
    assert tiled.shape == untiled.shape and not torch.equal(tiled, untiled)  # tiles decode each on their own
    # ltx.vae.decode dispatches: a DiffusionTiling as given, a conv Tiling asks for the tiles the memory allows
    assert torch.equal(decode(decoder, latent, DiffusionTiling(16, 64, None, 8, 32),
                              generator=torch.Generator().manual_seed(1)), tiled)  # fmt: skip
    assert torch.equal(decode(decoder, latent, Tiling(), generator=torch.Generator().manual_seed(1)), untiled)


def test_tiling_is_checked_before_any_work(diffusion_vae_ours):
    cfg = TINY_DIFFUSION_DECODER
    decoder = load_diffusion_decoder(diffusion_vae_ours)
    latent = torch.randn(1, 16, 3, 4, 4)
    errors = {
        DiffusionTiling(frames=4, overlap_frames=0): "tile frames 4 .* multiples of 2 and tiles at least 6 frames",
        DiffusionTiling(height=60, overlap_px=32): "tile height 60 .* multiples of 8",
        DiffusionTiling(width=16, overlap_px=8): "tile width 16 .* tiles at least 24 px",
        DiffusionTiling(height=64, overlap_px=16): "overlap must be at least 32 px .* got 16",
        DiffusionTiling(frames=16, overlap_frames=16): "below the tile, got 16",
    }
    for tiling, message in errors.items():
        with pytest.raises(ValueError, match=message):
            tiling.check(cfg)
        with pytest.raises(ValueError, match=message):
            next(diffusion_tiling.tiled_decode(decoder, latent, tiling))
    with pytest.raises(ValueError, match="no diffusion-decoder tile .* fits in 2.0 GiB"):
        recommend(LTX2_5_DIFFUSION_DECODER, 1536, 1024, 121, 2 << 30)


@needs_oracle("1.2.0")
def test_recommend_matches_ltx_core():
    from ltx_core.model.video_vae.diffusion_tiling import recommended_decode_tiling_config
    from ltx_core.model.video_vae.model_configurator import diffvae_tiling_geometry_from_vae_config
    from ltx_core.model.video_vae.transformer.config import DiffVAEMode

    sizes = ((121, 1536, 1024), (241, 1088, 1920), (9, 64, 96), (49, 512, 768), (1, 256, 384))
    chosen = set()
    for cfg in (LTX2_5_DIFFUSION_DECODER, TINY_DIFFUSION_DECODER):
        geometry = diffvae_tiling_geometry_from_vae_config(vae_section(cfg))
        for gib, (f, h, w) in itertools.product((2, 3, 4, 6, 8, 12, 24, 80), sizes):
            try:
                t = recommended_decode_tiling_config(**geometry, height=h, width=w, num_frames=f,
                                                     mode=DiffVAEMode.CHUNKED_EAGER, free_bytes=gib << 30)  # fmt: skip
                theirs = (t.frames.tile_size, t.height.tile_size, t.width.tile_size, t.frames.overlap, t.width.overlap)
            except ValueError:
                theirs = None
            try:
                ours = tuple(recommend(cfg, h, w, f, gib << 30).__dict__.values())
            except ValueError:
                ours = None
            assert ours == theirs, (cfg.stage_channels, gib, f, h, w)
            chosen.add(ours)
    assert None in chosen and len(chosen) > 10  # the grid reaches both refusals and many different tilings


@needs_oracle("1.2.0")
def test_tiled_decode_matches_ltx_core(diffusion_vae_official):
    """Every tiled case, chunk by chunk (shapes included: the chunks split where the official's do). Within
    1e-5, as the untiled decode: the attention sums its windows in another order."""
    from ltx.parity.compare import compare_exact
    from ltx.parity.diffusion_vae import TILED_CASES, tiled_run

    ref = tiled_run(diffusion_vae_official, CPU, torch.float32, official=True)
    rows = compare_exact("tiny", tiled_run(diffusion_vae_official, CPU, torch.float32, official=False), ref)
    assert {r.name.split("/")[0] for r in rows} == set(TILED_CASES) and len(rows) >= 2 * len(TILED_CASES) - 1
    assert all(r.passed for r in rows) and max(r.rel for r in rows) < 2e-6, [r for r in rows if r.rel > 2e-6]

    def perturb(decoder):  # one stage-4 weight: every tile runs stage 4, so every chunk is off
        decoder.det_stages[3][0].mlp.w_up.weight.data[2, 3] += 0.5

    ours = tiled_run(diffusion_vae_official, CPU, torch.float32, official=False, edit=perturb)
    wrong = compare_exact("tiny", ours, ref)
    assert not any(r.passed for r in wrong)
