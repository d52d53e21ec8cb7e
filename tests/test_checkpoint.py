"""Loading official single files: strictness, clear errors, memory mapping, fp8 detection."""

import struct

import pytest
import torch
from safetensors.torch import save_file
from util import rewrite

from ltx import Checkpoint, CheckpointError, ConfigError, load_transformer
from ltx.checkpoint import TRANSFORMER_PREFIX
from ltx.dit import transformer_config
from ltx.parity.fixtures import TINY


def test_config_and_components(tiny):
    ckpt = Checkpoint(tiny["ltx-2.3-tiny"])
    assert ckpt.model_version == "2.3.0"
    assert set(ckpt.components) == {
        "transformer",
        "text_connectors",
        "text_projection",
        "video_vae",
        "audio_vae",
        "vocoder",
    }
    assert (ckpt.kind, ckpt.version) == ("single-file", (2, 3, 0))
    assert Checkpoint(tiny["ltx-2.5-tiny"]).kind == "transformer"  # the LTX-2.5 split layout
    cfg = transformer_config(ckpt)
    assert cfg == TINY["ltx-2.3-tiny"].transformer
    assert transformer_config(Checkpoint(tiny["ltx-2.0-video-only-tiny"])).has_audio is False


def test_absent_keys_take_official_defaults(tmp_path, tiny):
    def drop(section):
        for key in ("av_ca_timestep_scale_multiplier", "rope_type", "frequencies_precision", "norm_eps"):
            del section[key]

    cfg = transformer_config(
        Checkpoint(rewrite(tiny["ltx-2.0-tiny"], tmp_path / "a.safetensors", transformer_config=drop))
    )
    # ltx-core 1.2.0's defaults (1.0.0 defaulted to interleaved RoPE)
    assert (cfg.av_ca_timestep_scale_multiplier, cfg.rope_type, cfg.frequencies_precision, cfg.norm_eps) == (
        1,
        "split",
        "float32",
        1e-6,
    )


def test_cpu_load_in_file_dtype_is_a_view_of_the_file(tiny):
    ckpt = Checkpoint(tiny["ltx-2.0-tiny"])
    model = load_transformer(ckpt, dtype=torch.float32)
    weight = model.transformer_blocks[1].attn1.to_q.weight
    assert not weight.untyped_storage().resizable()  # borrowed from the memory map, not allocated
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training
    # A second model from the same Checkpoint maps the file again: changing one leaves the other.
    twin = load_transformer(ckpt, dtype=torch.float32)
    weight.data.add_(1.0)
    assert not torch.equal(twin.transformer_blocks[1].attn1.to_q.weight, weight)
    assert torch.equal(
        twin.transformer_blocks[1].attn1.to_q.weight,
        ckpt.tensor(TRANSFORMER_PREFIX + "transformer_blocks.1.attn1.to_q.weight"),
    )


def test_load_casts_to_requested_dtype(tiny):
    model = load_transformer(tiny["ltx-2.3-tiny"], dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_missing_unexpected_and_misshaped_keys_are_listed_together(tmp_path, tiny):
    def edit(tensors):
        del tensors[TRANSFORMER_PREFIX + "transformer_blocks.1.attn2.to_k.bias"]
        tensors[TRANSFORMER_PREFIX + "transformer_blocks.1.attn2.extra.weight"] = torch.zeros(3)
        tensors[TRANSFORMER_PREFIX + "proj_out.weight"] = torch.zeros(128, 41)

    path = rewrite(tiny["ltx-2.0-tiny"], tmp_path / "bad.safetensors", tensors=edit)
    with pytest.raises(CheckpointError) as e:
        load_transformer(path)
    message = str(e.value)
    assert "1 missing: model.diffusion_model.transformer_blocks.1.attn2.to_k.bias" in message
    assert "1 unexpected: model.diffusion_model.transformer_blocks.1.attn2.extra.weight" in message
    assert "1 wrong shape: model.diffusion_model.proj_out.weight: file (128, 41), model (128, 40)" in message


def test_other_components_keys_are_not_unexpected(tmp_path, tiny):
    def edit(tensors):
        tensors["vae.decoder.conv_in.conv.weight"] = torch.zeros(2, 2)
        tensors["vocoder.vocoder.conv_pre.weight"] = torch.zeros(2)
        tensors["audio_vae.per_channel_statistics.mean-of-means"] = torch.zeros(2)

    path = rewrite(tiny["ltx-2.3-tiny"], tmp_path / "all.safetensors", tensors=edit)
    assert {"video_vae", "vocoder", "audio_vae", "text_connectors"} <= set(Checkpoint(path).components)
    load_transformer(path, dtype=torch.float32)


def test_a_file_cut_short_is_reported_as_truncated(tmp_path, tiny):
    data = tiny["ltx-2.0-tiny"].read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="truncated.*Download it again"):
        load_transformer(tmp_path / "cut.safetensors")
    (tmp_path / "cut_header.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="truncated inside its header"):
        Checkpoint(tmp_path / "cut_header.safetensors")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "too short"),
        (b"PK\x03\x04 this is a zip file, not safetensors", "not a safetensors file"),
        (struct.pack("<Q", 5) + b"{nope", "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "not valid JSON"),
    ],
)
def test_not_a_safetensors_file(tmp_path, content, match):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_transformer(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_transformer(tmp_path / "absent.safetensors")


def test_file_without_transformer(tmp_path):
    save_file(
        {"vae.encoder.conv_in.weight": torch.zeros(2)}, str(tmp_path / "vae.safetensors"), metadata={"config": "{}"}
    )
    with pytest.raises(CheckpointError, match="holds a video VAE file.*this slot expects a transformer file"):
        load_transformer(tmp_path / "vae.safetensors")


def test_file_without_config_needs_an_explicit_one(tmp_path, tiny):
    path = rewrite(tiny["ltx-2.0-tiny"], tmp_path / "noconf.safetensors", metadata={})
    with pytest.raises(CheckpointError, match="no 'config' metadata"):
        load_transformer(path)
    model = load_transformer(path, config=TINY["ltx-2.0-tiny"].transformer, dtype=torch.float32)
    reference = load_transformer(tiny["ltx-2.0-tiny"], dtype=torch.float32).state_dict()
    assert all(torch.equal(t, reference[k]) for k, t in model.state_dict().items())  # the same model as with it
    with pytest.raises(CheckpointError, match="do not match its config"):  # the full-size preset does not fit
        load_transformer(path, config="ltx-2-19b")


def test_unsupported_architecture_values_are_refused(tmp_path, tiny):
    def edit(section):
        section["qk_norm"] = "layer_norm"

    path = rewrite(tiny["ltx-2.0-tiny"], tmp_path / "qk.safetensors", transformer_config=edit)
    with pytest.raises(ConfigError, match="qk_norm='layer_norm'"):
        load_transformer(path)


def test_fp8_cast_layers_found_per_layer(tiny):
    model = load_transformer(tiny["ltx-2.0-fp8-cast-tiny"], dtype=torch.float32)
    # 3 blocks x (6 attentions x q/k/v/out + 2 feed-forwards x 2 linears)
    assert model.fp8_layers == {"fp8_cast": 3 * (6 * 4 + 2 * 2), "fp8_scaled": 0}
    linear = model.transformer_blocks[0].attn1.to_q
    assert linear.weight.dtype == torch.float8_e4m3fn and linear.bias.dtype == torch.float8_e4m3fn
    assert model.patchify_proj.weight.dtype == torch.float32


def test_streamed_random_checkpoint_reads_back(tmp_path):
    """scripts/make_random_checkpoint.py writes the safetensors format itself; our reader, the
    safetensors package and the manifest layout must all agree on what it wrote."""
    import importlib.util
    from pathlib import Path

    from safetensors import safe_open

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_random_checkpoint.py"
    spec = importlib.util.spec_from_file_location("make_random_checkpoint", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config, entries = module.plan("ltx-2-19b-fp8-cast.transformer", layers=1)
    assert config["transformer"]["num_layers"] == 1
    small = [e for e in entries if "transformer_blocks.0.attn2" in e[0] or e[0].endswith("scale_shift_table")]
    path = tmp_path / "r.safetensors"
    module.write(path, config, small, "cpu", seed=1, model_version="2.0.0")
    ckpt = Checkpoint(path)
    assert ckpt.model_version == "2.0.0" and ckpt.config == config
    with safe_open(str(path), framework="pt") as f:
        for key, shape, dtype in small:
            t = ckpt.tensor(key)
            assert list(t.shape) == shape and t.dtype == dtype
            assert torch.equal(t.view(torch.uint8), f.get_tensor(key).view(torch.uint8))
    assert ckpt.tensor("model.diffusion_model.transformer_blocks.0.attn2.to_q.weight").dtype == torch.float8_e4m3fn


def test_random_checkpoint_into_a_missing_folder_is_refused_before_any_work(tmp_path):
    """The output's folder must exist: a clear error naming it, exit 2, no file and no drawing (was a traceback after
    the plan was made)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_random_checkpoint.py"
    out = tmp_path / "missing" / "r.safetensors"
    result = subprocess.run([sys.executable, str(script), "ltx-2.vae", str(out)], capture_output=True, text=True)
    assert result.returncode == 2 and f"the folder {out.parent} does not exist" in result.stderr
    assert not out.parent.exists()
