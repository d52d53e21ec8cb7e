"""RoPE tables and rotations against the official functions, for both layouts and grid precisions, and the
properties that need no oracle (padding, norms, the frequency grid)."""

import math

import pytest
import torch

from ltx.dit.latents import audio_positions, video_positions
from ltx.nn.rope import apply_rope, frequency_grid, rope


@pytest.fixture(scope="module")
def rope_official():
    return pytest.importorskip("ltx_core.model.transformer.rope")


@pytest.mark.oracle
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("float64", [False, True])
@pytest.mark.parametrize("dim, heads", [(4096, 32), (40, 5), (2048, 32), (96, 3)])
@pytest.mark.parametrize("pos_dtype", [torch.float32, torch.bfloat16])
def test_video_tables_and_rotation_match_official(rope_official, split, float64, dim, heads, pos_dtype):
    positions = video_positions(3, 4, 6, 24.0, batch=2).to(pos_dtype)
    kind = rope_official.LTXRopeType.SPLIT if split else rope_official.LTXRopeType.INTERLEAVED
    grid_fn = rope_official.generate_freq_grid_np if float64 else rope_official.generate_freq_grid_pytorch
    ref = rope_official.precompute_freqs_cis(
        positions, dim, torch.float32, 10000.0, [20, 2048, 2048], True, heads, kind, grid_fn
    )
    ours = rope(
        positions,
        dim=dim,
        heads=heads,
        max_pos=(20, 2048, 2048),
        theta=10000.0,
        split=split,
        float64=float64,
        dtype=torch.float32,
    )
    assert torch.equal(ours.cos, ref[0]) and torch.equal(ours.sin, ref[1])
    x = torch.randn(2, positions.shape[2], dim)
    assert torch.equal(apply_rope(x, ours), rope_official.apply_rotary_emb(x, ref, kind))


@pytest.mark.oracle
def test_audio_and_cross_tables_match_official(rope_official):
    positions = audio_positions(18, batch=2)
    for split in (False, True):
        kind = rope_official.LTXRopeType.SPLIT if split else rope_official.LTXRopeType.INTERLEAVED
        ref = rope_official.precompute_freqs_cis(positions, 2048, torch.bfloat16, 10000.0, [20], True, 32, kind)
        ours = rope(
            positions,
            dim=2048,
            heads=32,
            max_pos=(20,),
            theta=10000.0,
            split=split,
            float64=False,
            dtype=torch.bfloat16,
        )
        assert torch.equal(ours.cos, ref[0]) and torch.equal(ours.sin, ref[1])


def test_interleaved_front_padding_is_identity():
    positions = video_positions(2, 2, 2, 24.0)
    r = rope(
        positions,
        dim=4096,
        heads=32,
        max_pos=(20, 2048, 2048),
        theta=10000.0,
        split=False,
        float64=False,
        dtype=torch.float32,
    )
    assert torch.all(r.cos[..., :4] == 1) and torch.all(r.sin[..., :4] == 0)  # 4096 = 682 * 6 + 4
    x = torch.randn(1, 8, 4096)
    assert torch.equal(apply_rope(x, r)[..., :4], x[..., :4])


def test_rotation_preserves_norms_per_head():
    positions = video_positions(2, 3, 3, 24.0)
    x = torch.randn(1, 18, 8 * 16, dtype=torch.float64)
    r = rope(
        positions,
        dim=128,
        heads=8,
        max_pos=(20, 2048, 2048),
        theta=10000.0,
        split=True,
        float64=True,
        dtype=torch.float64,
    )
    y = apply_rope(x, r)
    torch.testing.assert_close(y.view(1, 18, 8, 16).norm(dim=-1), x.view(1, 18, 8, 16).norm(dim=-1))


def test_frequency_grid_is_geometric_from_pi_over_two_to_theta_pi_over_two():
    g = frequency_grid(10000.0, 3, 4096, float64=True)
    assert g.shape == (682,) and g.dtype == torch.float32
    assert g[0].item() == pytest.approx(torch.pi / 2) and g[-1].item() == pytest.approx(10000 * torch.pi / 2)
    exact = 10000.0 ** torch.linspace(0.0, 1.0, 682, dtype=torch.float64) * math.pi / 2
    torch.testing.assert_close(g.double(), exact, rtol=6e-8, atol=0)  # the float64 grid, rounded once
    ratios = exact[1:] / exact[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 10000.0 ** (1 / 681)), rtol=1e-12, atol=0)
    single = frequency_grid(10000.0, 3, 4096, float64=False)  # computed in float32: off by float32 rounding
    assert not torch.equal(single, g)
    torch.testing.assert_close(single, g, rtol=1e-5, atol=0)
