"""Full-size models on the meta device: keys, shapes, dtypes and parameter counts equal the official."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from util import needs_1_2

from ltx import LTX2Transformer
from ltx.config import LTX2_3_22B, LTX2_5_22B, LTX2_19B
from ltx.nn import install_fp8_layers

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "weights" / "manifests"


def _manifest(name):
    return json.loads((MANIFESTS / f"{name}.transformer.json").read_text())


def _ours(cfg, manifest):
    """Our full-size model on meta, laid out as the loader would lay it out for that file."""
    stored = {k.removeprefix("model.diffusion_model."): getattr(torch, v[1]) for k, v in manifest["tensors"].items()}
    with torch.device("meta"):
        model = LTX2Transformer(cfg)
        install_fp8_layers(model, stored)
    # The loader keeps float8 weights as stored and casts everything else to the requested dtype.
    dtype = lambda name: stored[name] if stored.get(name) == torch.float8_e4m3fn else torch.bfloat16  # noqa: E731
    return {
        "model.diffusion_model." + name: [list(t.shape), str(dtype(name)).removeprefix("torch.")]
        for name, t in model.state_dict().items()
    }


@pytest.mark.parametrize(
    "name, cfg, params",
    [
        ("ltx-2-19b", LTX2_19B, 18_876_174_592),
        ("ltx-2-19b-fp8-cast", LTX2_19B, 18_876_174_592),
        ("ltx-2.3-22b", LTX2_3_22B, 18_988_838_144),
        ("ltx-2.5-22b", LTX2_5_22B, 18_987_859_200),  # 2.3 with a bias-free video FF and the keyframe vector
    ],
)
def test_full_size_state_dict_equals_official_manifest(name, cfg, params):
    manifest = _manifest(name)
    ours = _ours(cfg, manifest)
    assert sorted(ours) == sorted(manifest["tensors"])  # same keys
    diff = {k: (ours[k], manifest["tensors"][k]) for k in ours if ours[k] != manifest["tensors"][k]}
    assert not diff, list(diff.items())[:5]  # same shapes and dtypes
    assert manifest["parameters"] == params
    assert sum(torch.Size(s).numel() for s, _ in ours.values()) == params


def test_25_options_change_exactly_their_parameters():
    """ff_bias=False drops the video FF biases of every block, use_prompt_adaln_single=False both prompt AdaLNs,
    and the keyframe embedding is one vector of the video width (the official counts: ltx-core 1.2.0 on meta)."""
    with torch.device("meta"):
        count = lambda cfg: sum(p.numel() for p in LTX2Transformer(cfg).parameters())  # noqa: E731
        assert count(LTX2_5_22B.replace(use_prompt_adaln_single=False)) == 18_923_347_200
        assert count(LTX2_3_22B.replace(ff_bias=False)) == 18_988_838_144 - 48 * (4 * 4096 + 4096)
        assert count(LTX2_3_22B.replace(use_keyframes_abs_pos_embedding=True)) == 18_988_838_144 + 4096
        assert count(LTX2_3_22B.replace(audio_ff_bias=False)) == 18_988_838_144 - 48 * (4 * 2048 + 2048)


def test_19b_stream_sizes():
    with torch.device("meta"):
        model = LTX2Transformer(LTX2_19B)
    block = model.transformer_blocks[0]
    assert sum(p.numel() for p in block.parameters()) == 386_074_624
    assert block.attn1.to_q.weight.shape == (4096, 4096) and block.audio_attn1.to_q.weight.shape == (2048, 2048)
    assert block.audio_to_video_attn.to_k.weight.shape == (2048, 2048)  # audio -> 32 x 64 heads
    assert block.ff.net[0].proj.weight.shape == (16384, 4096)


@pytest.mark.oracle
@needs_1_2
def test_manifests_are_what_the_official_package_gives():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_manifests.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
