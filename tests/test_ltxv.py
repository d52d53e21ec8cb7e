"""The LTX-Video 0.9.x transformer: full-size structure, config checks, and parity with ltx-video 0.1.2's
Transformer3DModel (oracle tests: every block, masks, per-token timesteps, each STG strategy)."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from util import failed_rows

from ltx.checkpoint import CheckpointError
from ltx.config.base import ConfigError
from ltx.config.ltxv import LTXV_2B, LTXV_13B, LTXVConfig
from ltx.dit.ltxv import STG, LTXVTransformer, load_ltxv_transformer


@pytest.mark.parametrize("cfg, params", [(LTXV_2B, 1_923_385_472), (LTXV_13B, 13_042_569_344)])
def test_full_size_parameter_counts(cfg, params):
    with torch.device("meta"):
        model = LTXVTransformer(cfg)
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.oracle
@pytest.mark.parametrize("cfg", [LTXV_2B, LTXV_13B])
def test_full_size_layout_equals_the_official(cfg):
    from ltx.parity.ltxv import official_module

    with torch.device("meta"):
        ours, theirs = LTXVTransformer(cfg).state_dict(), official_module(cfg).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_options_we_do_not_build_are_refused_by_name():
    base = LTXV_2B.to_metadata()
    assert LTXVConfig.from_metadata(base) == LTXV_2B
    for key, value in (("adaptive_norm", "single_scale"), ("qk_norm", "layer_norm"), ("activation_fn", "geglu"),
                       ("norm_elementwise_affine", True), ("standardization_norm", "group_norm")):  # fmt: skip
        with pytest.raises(ConfigError, match=key if key != "norm_elementwise_affine" else "norm_elementwise"):
            LTXVConfig.from_metadata({**base, key: value})
    with pytest.raises(ConfigError, match="must be an object"):
        LTXVConfig.from_metadata(["not", "a", "dict"])
    with pytest.raises(ValueError, match="STG strategy must be one of"):
        STG("skip_everything", blocks=(0,))


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    from ltx.parity.ltxv import write_tiny_ltxv

    return write_tiny_ltxv(tmp_path_factory.mktemp("ltxv") / "ltxv-tiny.safetensors")


@pytest.mark.oracle
def test_bitwise_equal_to_ltx_video(tiny_file):
    from ltx.parity.ltxv import CASES, ltxv_parity

    rows = ltxv_parity(tiny_file)
    assert len(rows) == 4 * len(CASES)
    assert all(r.passed and r.max_abs == 0 for r in rows), [r for r in rows if r.max_abs]


@pytest.mark.oracle
def test_the_cases_differ_where_they_should(tiny_file):
    """Each STG strategy changes the velocity of sample 1 only; "residual" changes nothing (ltx-video 0.1.2's
    attention has no residual connection for it to drop), the self-attention mask changes sample 0 only."""
    from ltx.parity.ltxv import CASES, inputs, run

    model = load_ltxv_transformer(tiny_file, dtype=torch.float32)
    x = inputs(model.cfg)
    out = {case: run(model, model.cfg, x, case, official=False)[f"{case}/out"] for case in CASES}
    for case in CASES[1:]:
        moved = [not torch.equal(out[case][i], out["plain"][i]) for i in range(2)]
        expected = {"self-mask": [True, False], "stg-residual": [False, False]}.get(case, [False, True])
        assert moved == expected, case


@pytest.mark.oracle
def test_a_wrong_weight_fails_exactly_downstream(tiny_file):
    from ltx.parity.ltxv import ltxv_parity

    def perturb(model):
        model.transformer_blocks[1].attn1.to_k.weight.data[3, 5] += 0.5

    failed = failed_rows(ltxv_parity(tiny_file, edit=perturb))
    assert failed and all(not name.endswith("transformer_blocks.0") for name in failed)
    assert {n.split("/")[1] for n in failed} == {"transformer_blocks.1", "transformer_blocks.2", "out"}


def test_loader_errors(tiny_file, tmp_path):
    tensors = load_file(str(tiny_file))
    meta = {"config": json.dumps({"transformer": {**LTXV_2B.to_metadata(), "num_layers": 3, "num_attention_heads": 2,
                                                  "attention_head_dim": 16, "in_channels": 16, "out_channels": 16,
                                                  "cross_attention_dim": 32, "caption_channels": 24}})}  # fmt: skip
    missing = dict(tensors)
    del missing["model.diffusion_model.proj_out.weight"]
    save_file(missing, str(tmp_path / "missing.safetensors"), meta)
    with pytest.raises(CheckpointError, match="proj_out.weight"):
        load_ltxv_transformer(tmp_path / "missing.safetensors")
    odd = json.loads(meta["config"])
    odd["transformer"]["qk_norm"] = "layer_norm"
    save_file(tensors, str(tmp_path / "odd.safetensors"), {"config": json.dumps(odd)})
    with pytest.raises(CheckpointError, match="qk_norm='layer_norm' is not implemented"):
        load_ltxv_transformer(tmp_path / "odd.safetensors")
    model = load_ltxv_transformer(tiny_file, dtype=torch.float32)
    with pytest.raises(ValueError, match="STG blocks .* outside the model's 3 blocks"):
        model(torch.zeros(1, 4, 16), torch.zeros(1, 3, 4), torch.zeros(1, 2, 24), torch.zeros(1, 4),
              stg=STG("attention_values", blocks=(5,)))  # fmt: skip
    with pytest.raises(ValueError, match="expected latent"):
        model(torch.zeros(1, 4, 8), torch.zeros(1, 3, 4), torch.zeros(1, 2, 24), torch.zeros(1, 4))
