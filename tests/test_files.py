"""Recognising each kind of LTX file (the LTX-2 / 2.3 single file and the LTX-2.5 per-component files) by its
keys and metadata, the slot check every loader makes, and `ltx inspect` on each kind. The files are tiny
synthetic safetensors with the official key layout and metadata; no official package is needed."""

import json
import re

import pytest
import torch
from safetensors.torch import save_file

from ltx import Checkpoint, CheckpointError
from ltx.audio import load_audio_decoder, load_audio_encoder, load_vocoder
from ltx.checkpoint import parse_model_version
from ltx.cli import main
from ltx.files import SLOTS, describe, expect

T = "model.diffusion_model."
_AUDIO_VAE = {"model": {"params": {"ddconfig": {"ch_mult": [1, 2, 4]}}}}
_BWE = {"vocoder": {"resblock": "AMP1", "activation": "snakebeta"},
        "bwe": {"resblock": "AMP1", "activation": "snakebeta", "input_sampling_rate": 16000,
                "output_sampling_rate": 48000, "n_fft": 512, "hop_length": 80, "num_mels": 64}}  # fmt: skip
_GEMMA = {"model_type": "gemma4_unified", "gemma_version": "gemma4-12b-ltx-v1",
          "text_config": {"hidden_size": 3840, "num_hidden_layers": 48}}  # fmt: skip
_TOKENIZER = torch.frombuffer(bytearray(b'{"version": "1.0"}'), dtype=torch.uint8)


def _spec(keys, config=None, version=None, **metadata):
    return keys, config, version, metadata


# name -> (keys, config, model_version, other metadata); the keys are those the official files have.
FILES = {
    "ltx-2.3-single": _spec(
        [
            T + "patchify_proj.weight",
            T + "audio_patchify_proj.weight",
            T + "video_embeddings_connector.learnable_registers",
            "text_embedding_projection.video_aggregate_embed.weight",
            "vae.encoder.conv_in.conv.weight",
            "vae.per_channel_statistics.mean-of-means",
            "audio_vae.encoder.conv_in.conv.weight",
            "vocoder.vocoder.conv_pre.weight",
        ],
        {"transformer": {}, "vae": {}, "audio_vae": _AUDIO_VAE, "vocoder": _BWE},
        "2.3.0",
    ),
    "ltx-2.0-video-only-single": _spec(
        [T + "patchify_proj.weight", "vae.decoder.conv_in.conv.weight"], {"transformer": {}, "vae": {}}, "2.0.0"
    ),
    "ltx-2.5-transformer": _spec(
        [
            T + "patchify_proj.weight",
            T + "audio_patchify_proj.weight",
            T + "keyframes_abs_pos_embedding",
            T + "video_embeddings_connector.learnable_registers",
            T + "audio_embeddings_connector.learnable_registers",
        ],
        {"transformer": {}, "scheduler": {}},
        "2.5.0",
        gemma_source_checkpoint=json.dumps({"gemma_version": "gemma4-12b-ltx-v1"}),
    ),
    "ltx-2.5-text-encoder": _spec(
        [
            "model.language_model.layers.0.self_attn.q_proj.weight",
            "model.language_model.embed_tokens.weight",
            "model.embed_vision.embedding_projection.weight",
            "text_embedding_projection.video_aggregate_embed.weight",
            "text_embedding_projection.video_aggregate_embed.bias",
            "text_embedding_projection.audio_aggregate_embed.weight",
            "text_embedding_projection.audio_aggregate_embed.bias",
            "tokenizer_json",
            "hf_asset__tokenizer_config.json",
        ],
        None,
        None,
        gemma_config=json.dumps(_GEMMA),
    ),
    "ltx-2.5-text-encoder-comfy": _spec(
        [
            "model.layers.0.post_feedforward_layernorm.weight",
            "model.embed_tokens.weight",
            "model.norm.weight",
            "vision_model.patch_embed.weight",
            "multi_modal_projector.linear.weight",
            "audio_projector.linear.weight",
            "text_embedding_projection.video_aggregate_embed.weight",
            "tokenizer_json",
        ],
        None,
        None,
        gemma_config=json.dumps(_GEMMA),
    ),
    "ltx-2.5-video-vae": _spec(
        [
            "encoder.conv_in.conv.weight",
            "decoder.conv_in.weight",
            "decoder.stages.0.blocks.0.attn.qkv.weight",
            "per_channel_statistics.mean-of-means",
        ],
        {"vae": {"_class_name": "CausalDiffusionVAE", "encoder": {}, "decoder": {}, "model_output_type": "v"}},
        "2.5.0",
    ),
    "ltx-2.5-video-vae-conv": _spec(
        ["encoder.conv_in.conv.weight", "decoder.conv_in.conv.weight", "per_channel_statistics.std-of-means"],
        {"vae": {"_class_name": "CausalVideoAutoencoder"}},
        "2.5.0",
    ),
    "ltx-video-0.9.1-vae": _spec(["vae.encoder.conv_in.conv.weight"], {"vae": {}}, "0.9.1"),
    "ltx-2.5-audio-vae": _spec(
        [
            "audio_vae.encoder.conv_in.conv.weight",
            "audio_vae.decoder.conv_in.conv.weight",
            "audio_vae.per_channel_statistics.mean-of-means",
            "vocoder.vocoder.conv_pre.weight",
            "vocoder.bwe_generator.conv_pre.weight",
            "vocoder.mel_stft.mel_basis",
        ],
        {"audio_vae": _AUDIO_VAE, "vocoder": _BWE},
        "2.5.0",
    ),
    "ltx-2.5-spatial-upscaler": _spec(
        [
            "initial_conv.weight",
            "initial_norm.weight",
            "res_blocks.0.conv1.weight",
            "upsampler.0.weight",
            "post_upsample_res_blocks.0.conv1.weight",
            "final_conv.weight",
        ],
        {"mid_channels": 32, "spatial_upsample": True, "temporal_upsample": False},
    ),
    "ltx-2.5-temporal-upscaler": _spec(
        ["initial_conv.weight", "upsampler.0.weight", "final_conv.weight"],
        {"mid_channels": 32, "spatial_upsample": False, "temporal_upsample": True},
    ),
    "ltx-2.5-duration-head": _spec(
        ["duration_head.query", "duration_head.video_proj.weight", "duration_head.head.0.weight"],
        {"transformer": {"cross_attention_dim": 4096, "audio_cross_attention_dim": 2048}},
    ),
    "ltx-2.5-distilled-lora": _spec(
        [
            "diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight",
            "diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight",
        ]
    ),
    "ltx-2.5-ic-lora": _spec(
        [
            T + "transformer_blocks.0.ff.net.0.proj.lora_A.weight",
            T + "transformer_blocks.0.ff.net.0.proj.lora_B.weight",
        ],
        None,
        None,
        reference_downscale_factor="2",
    ),
    "not-ltx": _spec(["foo.bar", "baz"]),
}
KIND = {
    "ltx-2.3-single": "single-file", "ltx-2.0-video-only-single": "single-file", "ltx-2.5-transformer": "transformer",
    "ltx-2.5-text-encoder": "text-encoder", "ltx-2.5-text-encoder-comfy": "text-encoder",
    "ltx-2.5-video-vae": "video-vae", "ltx-2.5-video-vae-conv": "video-vae", "ltx-video-0.9.1-vae": "video-vae",
    "ltx-2.5-audio-vae": "audio-vae", "ltx-2.5-spatial-upscaler": "upsampler", "ltx-2.5-temporal-upscaler": "upsampler",
    "ltx-2.5-duration-head": "duration-head", "ltx-2.5-distilled-lora": "lora", "ltx-2.5-ic-lora": "lora",
    "not-ltx": "unknown",
}  # fmt: skip
# The slots each file can fill.
FILLS = {
    "ltx-2.3-single": {"transformer", "text_connectors", "text_projection", "video_vae", "audio_vae", "vocoder"},
    "ltx-2.0-video-only-single": {"transformer", "video_vae"},
    "ltx-2.5-transformer": {"transformer", "text_connectors"},
    "ltx-2.5-text-encoder": {"text_encoder", "text_projection"},
    "ltx-2.5-text-encoder-comfy": {"text_encoder", "text_projection"},
    "ltx-2.5-video-vae": {"video_vae"},
    "ltx-2.5-video-vae-conv": {"video_vae"},
    "ltx-video-0.9.1-vae": {"video_vae"},
    "ltx-2.5-audio-vae": {"audio_vae", "vocoder"},
    "ltx-2.5-spatial-upscaler": {"upsampler"},
    "ltx-2.5-temporal-upscaler": {"upsampler"},
    "ltx-2.5-duration-head": {"duration_head"},
    "ltx-2.5-distilled-lora": {"lora"},
    "ltx-2.5-ic-lora": {"lora"},
    "not-ltx": set(),
}


def write(path, keys, config=None, version=None, **metadata):
    tensors = {k: _TOKENIZER.clone() if k in ("tokenizer_json",) or k.startswith("hf_asset__") else torch.zeros(2, 3)
               for k in keys}  # fmt: skip
    meta = {**metadata, **({"config": json.dumps(config)} if config is not None else {})}
    meta |= {"model_version": version} if version else {}
    save_file(tensors, str(path), metadata=meta or None)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    return {name: write(folder / f"{name}.safetensors", *s[:3], **s[3]) for name, s in FILES.items()}


def test_every_kind_is_recognised_by_keys_and_metadata(files):
    assert {name: Checkpoint(p).kind for name, p in files.items()} == KIND


@pytest.mark.parametrize("name", list(FILES))
def test_each_file_fills_its_slots_and_no_other(files, name):
    ckpt = Checkpoint(files[name])
    for slot in SLOTS:
        if slot in FILLS[name]:
            assert expect(ckpt, slot) is ckpt
        else:
            with pytest.raises(CheckpointError, match=rf"holds {re.escape(describe(ckpt))}; this slot expects "):
                expect(files[name], slot)


def test_the_error_says_what_the_file_is_and_which_file_the_slot_takes(files):
    with pytest.raises(CheckpointError) as e:
        expect(files["ltx-2.5-transformer"], "audio_vae")
    message = str(e.value)
    assert message.startswith(f"{files['ltx-2.5-transformer']}: holds a transformer-only file (LTX 2.5.0; split layout")
    assert "this slot expects an audio VAE file (e.g. ltx-2.5-audio-vae-bf16, or a single-file LTX-2 / 2.3" in message
    audio = r"holds an audio VAE file \(LTX 2\.5\.0; audio VAE \+ vocoder with bandwidth extension\)"
    with pytest.raises(CheckpointError, match=audio + "; this slot expects a transformer file"):
        expect(files["ltx-2.5-audio-vae"], "transformer")
    with pytest.raises(CheckpointError, match=r"a Gemma text-encoder file \(model_type gemma4_unified, gemma_version "
                                              r"gemma4-12b-ltx-v1; with the LTX text projection\)"):  # fmt: skip
        expect(files["ltx-2.5-text-encoder"], "video_vae")
    with pytest.raises(CheckpointError, match=r"a video VAE file \(LTX 2\.5\.0; CausalDiffusionVAE\)"):
        expect(files["ltx-2.5-video-vae"], "upsampler")
    with pytest.raises(CheckpointError, match=r"a latent upsampler file \(temporal x2\).*expects a LoRA file"):
        expect(files["ltx-2.5-temporal-upscaler"], "lora")
    with pytest.raises(CheckpointError, match=r"no LTX component this program knows \(keys such as baz, foo\.bar\)"):
        expect(files["not-ltx"], "transformer")


def test_the_audio_loaders_check_their_slot_first(files):
    for load in (load_audio_encoder, load_audio_decoder, load_vocoder):
        with pytest.raises(
            CheckpointError, match="holds a transformer-only file .*this slot expects an? (audio VAE|vocoder)"
        ):
            load(files["ltx-2.5-transformer"])
        with pytest.raises(CheckpointError, match="holds a video VAE file"):
            load(files["ltx-2.5-video-vae-conv"])


def test_split_transformer_is_told_apart_by_its_config_sections(tmp_path):
    keys = [T + "patchify_proj.weight"]
    assert Checkpoint(write(tmp_path / "a.safetensors", keys, {"transformer": {}})).kind == "transformer"
    for section in ("vae", "audio_vae", "vocoder"):  # every single file states at least one
        path = write(tmp_path / f"{section}.safetensors", keys, {"transformer": {}, section: {}})
        assert Checkpoint(path).kind == "single-file"
    assert Checkpoint(write(tmp_path / "none.safetensors", keys)).kind == "transformer"


def test_new_components_keep_single_files_unchanged(files):
    ckpt = Checkpoint(files["ltx-2.3-single"])
    assert set(ckpt.components) == {"transformer", "text_connectors", "text_projection", "video_vae", "audio_vae",
                                    "vocoder"}  # fmt: skip
    assert set(Checkpoint(files["ltx-2.5-video-vae-conv"]).components) == {"video_vae"}
    assert set(Checkpoint(files["ltx-2.5-text-encoder"]).components) == {"text_encoder", "text_projection"}
    assert set(Checkpoint(files["ltx-2.5-ic-lora"]).components) == {"lora"}  # LoRA factors whatever their prefix


@pytest.mark.parametrize(
    "text, parsed",
    [("2.3.rc1", (2, 3)), ("2.4-rc2", (2, 4)), ("2.5.0", (2, 5, 0)), ("2", (2,)), ("0.9.1", (0, 9, 1)),
     ("", ()), (None, ()), ("rc1", ()), ("2.x.1", (2,)), ("2..3", (2,))],
)  # fmt: skip
def test_model_version_parses_as_the_official_pipelines_read_it(text, parsed):
    assert parse_model_version(text) == parsed
    assert parse_model_version("2.4-rc2") >= (2, 4) > parse_model_version("2.3.rc1") > ()


@pytest.mark.parametrize("name", list(FILES))
def test_inspect_says_what_each_file_is(files, name, capsys):
    assert main(["inspect", str(files[name])]) == 0
    out = capsys.readouterr().out
    assert f"kind:           {describe(Checkpoint(files[name]))}" in out
    expected = {
        "ltx-2.5-transformer": ["transformer (audio-video", "gemma_source_checkpoint", "its projection is in the text"],
        "ltx-2.5-text-encoder": [
            "text encoder: model_type gemma4_unified, gemma_version gemma4-12b-ltx-v1, hidden_size 3840, "
            "num_hidden_layers 48",
            "(Hugging Face key layout)",
            "packed tokenizer_json: 18 bytes",
            "packed tokenizer_config.json",
            "text_embedding_projection.audio_aggregate_embed.bias: (2, 3)",
        ],
        "ltx-2.5-text-encoder-comfy": ["(Comfy-flat key layout)"],
        "ltx-2.5-video-vae": ["video VAE (CausalDiffusionVAE", "model_output_type                      v"],
        "ltx-2.5-audio-vae": ["audio_vae             3 tensors", "vocoder: BigVGAN-v2 (SnakeBeta) + bandwidth"],
        "ltx-2.5-temporal-upscaler": ["latent upsampler:", "temporal_upsample                      True"],
        "ltx-2.5-duration-head": ["duration head: 3 tensors; config (defaults)"],
        "ltx-2.5-distilled-lora": ["LoRA: 1 layers, rank 2 (1); under diffusion_model. (1)"],
        "ltx-2.5-ic-lora": ["IC-LoRA metadata: {'reference_downscale_factor': '2'}"],
        "ltx-2.3-single": ["model_version:  2.3.0 (generation (2, 3, 0))"],
    }.get(name, [])  # fmt: skip
    for line in expected:
        assert line in out, (line, out)
