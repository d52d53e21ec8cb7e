"""Our transformer against the official ltx-core, tensor by tensor, on official-layout files."""

import pytest
import torch
from util import needs_oracle, rewrite

from ltx.dit import load_transformer
from ltx.parity.fixtures import TINY, TinySpec, write_tiny_checkpoint
from ltx.parity.transformer import ClipShape, build_cases, transformer_parity

pytest.importorskip("ltx_core", reason="the official ltx-core is the oracle")
# Our default A/V modulation rule is ltx-core 1.2.0's ("own-timesteps", since 1.1.4); the 1.0.0 rule is
# checked on its own below, against either oracle.
pytestmark = [pytest.mark.oracle, needs_oracle("1.1.4")]


def _failures(rows):
    return [f"{r.name}: rel {r.rel:.3e} > {r.tol:.1e}" for r in rows if not r.passed]


@pytest.mark.parametrize("name", [name for name, spec in TINY.items() if spec.transformer is not None])
def test_builtin_checkpoints_fp32_bitwise(tiny, name):
    rows = transformer_parity(tiny[name], dtype=torch.float32)
    assert not _failures(rows)
    # The operations are in the official order, so float32 agrees to the bit, not just to 1e-5.
    assert max(r.rel for r in rows) == 0.0
    blocks = TINY[name].transformer.num_layers
    streams = 2 if TINY[name].transformer.has_audio else 1
    passes = 5 if streams == 2 else 3
    assert len(rows) == 2 + passes * streams * (blocks + 2)


@pytest.mark.parametrize("name", ["ltx-2.0-tiny", "ltx-2.3-tiny"])
def test_builtin_checkpoints_bf16_within_twice_official_error(tiny, name):
    rows = transformer_parity(tiny[name], dtype=torch.bfloat16)
    assert not _failures(rows)
    lowp = [r for r in rows if r.ref_rel is not None]
    assert lowp and all(r.ref_rel > 0 for r in lowp), "bf16 must differ from float32, or the rule tests nothing"
    assert max(r.ref_rel for r in lowp) < 0.05, "the tiny models should be well conditioned in bf16"


# More configurations than the built-in ones: each flips options the others leave alone.
_BASE = TINY["ltx-2.0-tiny"].transformer
_MORE = {
    "interleaved-float64-7heads": _BASE.replace(
        num_attention_heads=7,
        cross_attention_dim=56,
        audio_num_attention_heads=7,
        audio_cross_attention_dim=42,
        frequencies_precision="float64",
    ),
    "split-float32-gated-only": _BASE.replace(
        rope_type="split",
        audio_num_attention_heads=5,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=20,
        apply_gated_attention=True,
    ),
    "2.3-options-interleaved-1-layer": TINY["ltx-2.3-tiny"].transformer.replace(rope_type="interleaved", num_layers=1),
    "av-multiplier-1": _BASE.replace(av_ca_timestep_scale_multiplier=1, timestep_scale_multiplier=1000.0),
    "2.5-no-prompt-adaln-no-ff-biases": TINY["ltx-2.5-tiny"].transformer.replace(
        use_prompt_adaln_single=False, audio_ff_bias=False
    ),
}
_SHAPES = {
    "interleaved-float64-7heads": ClipShape(frames=9, height=96, width=64, batch=3),
    "split-float32-gated-only": ClipShape(frames=25, height=64, width=64, fps=25.0, batch=2),
    "2.3-options-interleaved-1-layer": ClipShape(frames=1, height=32, width=160, batch=1, text_tokens=5),
    "av-multiplier-1": ClipShape(frames=33, height=32, width=32, fps=30.0, batch=2),
    "2.5-no-prompt-adaln-no-ff-biases": ClipShape(frames=17, height=64, width=96, batch=2),
}


@pytest.mark.parametrize("name", list(_MORE))
def test_more_configs_and_shapes(tmp_path, name):
    spec = TinySpec(name, name, _MORE[name], "2.0.0", connectors=False)
    path = write_tiny_checkpoint(spec, tmp_path / "m.safetensors", seed=3)
    rows = transformer_parity(path, dtype=torch.float32, shape=_SHAPES[name])
    assert not _failures(rows)


def test_a_wrong_weight_fails_exactly_downstream(tiny):
    """One audio FF bias of the last block, perturbed on our side only: the audio output of that
    block and everything after it on the audio side fails; every video tensor and earlier block passes."""

    def edit(model):
        model.transformer_blocks[2].audio_ff.net[2].bias.data[0] += 1e-3

    rows = transformer_parity(tiny["ltx-2.0-tiny"], dtype=torch.float32, edit_ours=edit)
    failed = {r.name for r in rows if not r.passed}
    expected = {
        f"{case}/{t}"
        for case in ("base", "stg", "masks", "isolation")
        for t in ("block02.audio", "out.audio", "x0.audio")
    }
    # With the audio stream frozen its blocks do not run, so the perturbed bias is never used.
    assert failed == expected


def test_swapped_blocks_fail_from_the_first_swapped_block(tiny):
    def edit(model):
        blocks = model.transformer_blocks
        state1, state2 = blocks[1].state_dict(), blocks[2].state_dict()
        blocks[1].load_state_dict(state2, assign=True)
        blocks[2].load_state_dict(state1, assign=True)

    rows = transformer_parity(tiny["ltx-2.3-tiny"], dtype=torch.float32, edit_ours=edit)
    failed = {r.name for r in rows if not r.passed}
    assert not any("block00" in n or "positions" in n for n in failed)
    assert {"base/block01.video", "base/block01.audio", "base/out.video", "base/out.audio"} <= failed


def test_a_wrong_weight_fails_in_bf16_too(tiny):
    """A key-mapping slip (to_v loaded from to_k's tensor) is far outside the bf16 tolerance."""

    def edit(model):
        attn = model.transformer_blocks[1].attn1
        attn.to_v.weight.data = attn.to_k.weight.data.clone()

    rows = transformer_parity(tiny["ltx-2.0-tiny"], dtype=torch.bfloat16, edit_ours=edit)
    assert "base/out.video" in {r.name for r in rows if not r.passed}


@pytest.mark.parametrize("name", ["ltx-2.0-tiny", "ltx-2.3-tiny"])
def test_the_1_0_av_modulation_rule_is_bitwise_too(tiny, name):
    """av_modulation="other-sigma" (the A/V scale/shift AdaLN fed the other stream's sigma, as ltx-core 1.0.0
    computes it) against 1.2.0 with that one method reverted, or against 1.0.0 itself."""
    rows = transformer_parity(tiny[name], dtype=torch.float32, av_modulation="other-sigma")
    assert not _failures(rows) and max(r.rel for r in rows) == 0.0


def test_the_two_av_modulation_rules_differ_where_the_sigmas_do(tiny):
    """Ours on the 1.0.0 rule against the 1.2.0 oracle: every AV-coupled output of the cases whose per-token
    timesteps differ from the other stream's sigma fails (so each rule's check can tell them apart); the
    first block's inputs to the AV step, the positions, and the frozen-audio case's audio side agree."""

    def edit(model):
        model.av_modulation = "other-sigma"

    rows = transformer_parity(tiny["ltx-2.3-tiny"], dtype=torch.float32, edit_ours=edit)
    failed = {r.name for r in rows if not r.passed}
    assert {"base/block00.video", "base/block00.audio", "base/out.video", "masks/out.audio"} <= failed
    assert not any(n.startswith("positions") for n in failed)
    assert "audio_frozen/block00.audio" not in failed  # a frozen stream's blocks do not run


@pytest.mark.parametrize("name", ["ltx-2.3-tiny", "ltx-2.5-tiny"])
def test_audio_only_model_is_bitwise(tiny, name):
    """The audio stream alone, built from the audio-video file (text-to-audio), against ltx-core's audio-only
    model: every block's audio output and the velocity, bitwise; it holds no video-stream weights."""
    rows = transformer_parity(tiny[name], dtype=torch.float32, audio_only=True)
    assert not _failures(rows) and max(r.rel for r in rows) == 0.0
    assert {r.name for r in rows if r.name.endswith("out.audio")} == {
        "base/out.audio",
        "stg/out.audio",
        "masks/out.audio",
    }
    assert not any(r.name.endswith(".video") and "block" in r.name for r in rows)
    model = load_transformer(tiny[name], dtype=torch.float32, audio_only=True)
    assert not any(
        n.startswith(("patchify_proj", "adaln_single", "transformer_blocks.0.attn1")) for n in model.state_dict()
    )
    with pytest.raises(ValueError, match="audio-only transformer"):
        model(video=build_cases(model.cfg, ClipShape())[0].video)


def test_keyframe_embedding_follows_the_config_as_the_official(tmp_path, tiny):
    """A 2.5 file that switches the keyframe embedding on without storing it loads with a zero vector (adding
    zero is what the official does with it), and a stored vector the config leaves off is not used."""
    src = tiny["ltx-2.5-tiny"]
    no_vector = rewrite(src, tmp_path / "a.safetensors",
                        tensors=lambda t: t.pop("model.diffusion_model.keyframes_abs_pos_embedding"))  # fmt: skip
    model = load_transformer(no_vector, dtype=torch.float32)
    assert torch.equal(model.keyframes_abs_pos_embedding, torch.zeros(1, model.cfg.inner_dim))
    switched_off = rewrite(src, tmp_path / "b.safetensors",
                           transformer_config=lambda c: c.update(use_keyframes_abs_pos_embedding=False))  # fmt: skip
    model = load_transformer(switched_off, dtype=torch.float32)
    assert model.keyframes_abs_pos_embedding is None
    for path in (no_vector, switched_off):  # and the official agrees on both
        assert not _failures(
            transformer_parity(path, dtype=torch.float32, shape=ClipShape(frames=9, height=64, width=64))
        )
