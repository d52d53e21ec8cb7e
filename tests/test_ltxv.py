"""The LTX-Video 0.9.x transformer: full-size structure, config checks, and parity with ltx-video 0.1.2's
Transformer3DModel (oracle tests: every block, masks, per-token timesteps, each STG strategy)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from util import failed_rows

from ltx import load_transformer
from ltx.checkpoint import CheckpointError
from ltx.config.base import ConfigError
from ltx.config.ltxv import LTXV_2B, LTXV_13B, LTXVConfig
from ltx.dit.ltxv import STG, LTXVTransformer, load_ltxv_transformer

MANIFESTS = Path(__file__).resolve().parent.parent / "weights" / "manifests"


@pytest.mark.parametrize("name, cfg, params", [("ltx-video-0.9-2b", LTXV_2B, 1_923_385_472),
                                               ("ltx-video-0.9.7-13b", LTXV_13B, 13_042_569_344)])  # fmt: skip
def test_full_size_matches_the_official_manifest(name, cfg, params):
    """Keys and shapes of the meta-built model equal the manifest ltx-video 0.1.2 gives (scripts/export_manifests.py),
    and the manifest's config reads back as the preset."""
    manifest = json.loads((MANIFESTS / f"{name}.transformer.json").read_text())
    assert LTXVConfig.from_metadata(manifest["config"]["transformer"]) == cfg
    with torch.device("meta"):
        model = LTXVTransformer(cfg)
    ours = {"model.diffusion_model." + k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: v[0] for k, v in manifest["tensors"].items()}
    assert sum(p.numel() for p in model.parameters()) == manifest["parameters"] == params


def test_fp8_weight_files_load_as_float8_layers(tiny_file, tmp_path):
    """The fp8 files: block linears stored in float8 stay float8 and compute in the activations' dtype, which is
    the float32 model with those weights rounded to e4m3."""
    tensors = load_file(str(tiny_file))
    with safe_open(str(tiny_file), "pt") as f:
        meta = f.metadata()
    fp8 = {k: (v.to(torch.float8_e4m3fn) if ".transformer_blocks." in k and k.endswith("weight") and v.dim() == 2
               else v) for k, v in tensors.items()}  # fmt: skip
    save_file(fp8, str(tmp_path / "fp8.safetensors"), meta)
    rounded = {k: v.float() if v.dtype == torch.float8_e4m3fn else v for k, v in fp8.items()}
    save_file(rounded, str(tmp_path / "rounded.safetensors"), meta)
    model = load_ltxv_transformer(tmp_path / "fp8.safetensors", dtype=torch.float32)
    assert model.fp8_layers == {"fp8_cast": 3 * 10, "fp8_scaled": 0}  # q, k, v, out of both attentions; the MLP's 2
    assert model.transformer_blocks[0].ff.net[2].weight.dtype == torch.float8_e4m3fn
    reference = load_ltxv_transformer(tmp_path / "rounded.safetensors", dtype=torch.float32)
    from ltx.parity.ltxv import inputs

    x = inputs(model.cfg)
    with torch.no_grad():
        args = (x["latent"], x["positions"], x["context"], x["timesteps"])
        mask = x["context_mask"]
        assert torch.equal(model(*args, context_mask=mask), reference(*args, context_mask=mask))


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

    # from our module (the oracle tests prove it is the official layout: they load it strictly into ltx-video's)
    return write_tiny_ltxv(tmp_path_factory.mktemp("ltxv") / "ltxv-tiny.safetensors", official=False)


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
    with pytest.raises(CheckpointError, match="holds an LTX-Video 0.9.x transformer .*load_ltxv_transformer"):
        load_transformer(tiny_file)
    with pytest.raises(ValueError, match="STG blocks .* outside the model's 3 blocks"):
        model(torch.zeros(1, 4, 16), torch.zeros(1, 3, 4), torch.zeros(1, 2, 24), torch.zeros(1, 4),
              stg=STG("attention_values", blocks=(5,)))  # fmt: skip
    with pytest.raises(ValueError, match="expected latent"):
        model(torch.zeros(1, 4, 8), torch.zeros(1, 3, 4), torch.zeros(1, 2, 24), torch.zeros(1, 4))


def test_inspect_names_the_family(tiny_file, capsys):
    from ltx.cli import main

    assert main(["inspect", str(tiny_file)]) == 0
    out = capsys.readouterr().out
    assert "LTX-Video 0.9.x: single-stream transformer, T5 text" in out
    assert "LTX-Video 0.9.x transformer (14 settings; load_ltxv_transformer):" in out and "heads      " in out


@pytest.mark.oracle
def test_diffusers_as_a_second_opinion(tiny_file):
    """diffusers' LTXVideoTransformer3DModel on the same weights (its key names: proj_in, time_embed, norm_q, norm_k),
    fed our positions as its video_coords and the timesteps in its 0-1000 scale: the same velocity, bitwise."""
    from ltx.parity.ltxv import diffusers_keys, diffusers_module, inputs

    ours = load_ltxv_transformer(tiny_file, dtype=torch.float32)
    c = ours.cfg
    theirs = diffusers_module(c).eval()
    state = {k.removeprefix("model.diffusion_model."): v for k, v in load_file(str(tiny_file)).items()}
    theirs.load_state_dict(diffusers_keys(state), strict=True)
    x = inputs(c)
    with torch.no_grad():
        got = ours(x["latent"], x["positions"], x["context"], x["timesteps"], context_mask=x["context_mask"])
        ref = theirs(hidden_states=x["latent"], encoder_hidden_states=x["context"], timestep=x["timesteps"] * 1000,
                     encoder_attention_mask=x["context_mask"], video_coords=x["positions"])[0]  # fmt: skip
    assert torch.equal(got, ref)


@pytest.mark.oracle
def test_bf16_bitwise_equal_to_ltx_video(tiny_file):
    """In bf16 too: ltx-video's q/k norms (diffusers' RMSNorm) round the normalised tensor before the weight, and so
    do ours for LTX-Video; rounding once (as LTX-2's norms do) is caught."""
    from ltx.parity.ltxv import official_module

    ours = load_ltxv_transformer(tiny_file, dtype=torch.bfloat16)
    official = official_module(ours.cfg).eval()
    official.load_state_dict(
        {k.removeprefix("model.diffusion_model."): v for k, v in load_file(str(tiny_file)).items()}
    )
    official.to(torch.bfloat16)
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(2, 18, ours.cfg.in_channels, generator=g).to(torch.bfloat16)
    context = torch.randn(2, 6, ours.cfg.caption_channels, generator=g).to(torch.bfloat16)
    positions, timesteps = torch.rand(2, 3, 18, generator=g) * 4, torch.tensor([[0.7], [0.3]])

    def both():
        with torch.inference_mode():
            return ours(latent, positions, context, timesteps), official(
                latent, positions, encoder_hidden_states=context, timestep=timesteps, return_dict=False
            )[0]

    got, ref = both()
    assert got.dtype == ref.dtype == torch.bfloat16 and torch.equal(got, ref)
    for block in ours.transformer_blocks:
        block.attn1.norm_rounds_first = block.attn2.norm_rounds_first = False
    assert not torch.equal(*both())
