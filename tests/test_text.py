"""Text conditioning: the feature extractors and connectors against ltx-core (its whole batch and one prompt at a
time), Gemma-3 end to end against ltx-core 1.2.0's own text encoder, T5 against ltx-video, batches, loading errors,
the cache. LTX-2.5 (Gemma-4) and asymmetric connectors: test_text_gemma4.py."""

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file
from util import failed_rows, needs_oracle, rewrite

from ltx import Checkpoint, CheckpointError, ConfigError
from ltx.cli import main
from ltx.config import TextConfig
from ltx.parity.oracle import at_least
from ltx.parity.text import gemma_parity, t5_parity, text_parity
from ltx.parity.text_fixtures import PROMPTS
from ltx.text.encoder import TextEncoder, load_prompt_embeddings, save_prompt_embeddings
from ltx.text.gemma import Gemma
from ltx.text.processor import load_text_processor
from ltx.text.t5 import T5
from ltx.text.tokenizer import SentencePieceTokenizer

TEXT = ("ltx-2.0-tiny", "ltx-2.3-tiny")


# -- parity ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TEXT)
@pytest.mark.oracle
def test_text_side_fp32_bitwise_for_a_batch_of_two_lengths(tiny, name):
    rows = text_parity(tiny[name])  # 8 tensors, against the official whole batch (1.2.0) and one prompt at a time
    groups = 2 if at_least("1.2.0") else 1
    assert len(rows) == 8 * groups and len({r.group for r in rows}) == groups, rows
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]


@pytest.mark.oracle
def test_text_side_bf16_within_twice_official_error(tiny):
    rows = text_parity(tiny["ltx-2.3-tiny"], dtype=torch.bfloat16)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.oracle
def test_a_wrong_connector_weight_fails_downstream_only(tiny):
    def edit(processor):
        processor.video_embeddings_connector.transformer_1d_blocks[1].ff.net[2].bias.data[0] += 1e-3

    failed = failed_rows(text_parity(tiny["ltx-2.0-tiny"], edit_ours=edit))
    assert failed == {"video_embeddings_connector.transformer_1d_blocks.1", "out/video"}


@pytest.mark.oracle
def test_a_wrong_projection_weight_fails_everywhere_after_it(tiny):
    def edit(processor):
        processor.text_embedding_projection.audio_aggregate_embed.weight.data[0, 0] += 1e-2

    failed = failed_rows(text_parity(tiny["ltx-2.3-tiny"], edit_ours=edit))
    assert failed == {f"audio_embeddings_connector.transformer_1d_blocks.{i}" for i in range(2)} | {"out/audio"}


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.oracle
@needs_oracle("1.2.0")
def test_prompts_to_contexts_bitwise_against_official_text_encoder(tiny, tiny_gemma, name):
    rows = gemma_parity(tiny[name], tiny_gemma)
    assert {r.name for r in rows} >= {"tokens/ids", "gemma/hidden_states.3", "text_embedding_projection", "out/video"}
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]


@pytest.mark.oracle
def test_t5_bitwise_against_ltx_video_encode_prompt(tiny_t5):
    rows = t5_parity(tiny_t5)
    assert len(rows) == 3 and all(r.passed and r.max_abs == 0.0 for r in rows), rows


# -- batches --------------------------------------------------------------------------------------
def test_a_batch_equals_its_prompts_run_one_by_one(tiny, tiny_gemma):
    encoder = TextEncoder(tiny_gemma, tiny["ltx-2.3-tiny"], dtype=torch.float32, max_length=256)
    batch = encoder.encode(PROMPTS)
    for i, prompt in enumerate(PROMPTS):
        one = encoder.encode([prompt])
        for got, ref in ((batch.video[i], one.video[0]), (batch.audio[i], one.audio[0])):
            torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
    assert batch.mask.all()  # the registers make every context row valid


def test_registers_fill_each_samples_tail(tiny):
    processor = load_text_processor(tiny["ltx-2.0-tiny"], gemma_hidden=24, gemma_layers=3)
    connector = processor.video_embeddings_connector
    x = torch.arange(2 * 256 * 24, dtype=torch.float32).reshape(2, 256, 24)
    mask = torch.zeros(2, 256, dtype=torch.bool)
    mask[0, -3:], mask[1, 100:] = True, True
    out = connector.fill_with_registers(x, mask)
    assert torch.equal(out[0, :3], x[0, -3:]) and torch.equal(out[1, :156], x[1, 100:])
    registers = connector.learnable_registers
    assert torch.equal(out[0, 3:], registers[torch.arange(3, 256) % 128])
    assert torch.equal(out[1, 156:], registers[torch.arange(156, 256) % 128])


# -- tokenizers -----------------------------------------------------------------------------------
def test_gemma_tokenizer_rules(tiny_gemma):
    tok = SentencePieceTokenizer(tiny_gemma / "tokenizer.model", kind="gemma", max_length=8)
    ids, mask = tok(["", "  a cat walks slowly across a sunlit garden  "])
    bos, pad = tok.sp.bos_id(), tok.pad_id
    assert ids[0].tolist() == [pad] * 7 + [bos] and mask[0].tolist() == [0] * 7 + [1]
    assert mask[1].all() and ids[1, 0] == bos  # cut to 8 tokens, BOS kept
    assert tok.encode("<eos>x")[0] == tok.sp.eos_id()  # control pieces in the text become their token
    with pytest.raises(ValueError, match="no prompts"):
        tok([])
    with pytest.raises(TypeError, match="strings"):
        tok([3])


def test_packed_tokenizer_json_rules():
    from ltx.parity.text_files import gemma4_tokenizer
    from ltx.text.tokenizer import JsonTokenizer

    data, config = gemma4_tokenizer()  # a tokenizer.json that adds no <bos> itself, as Gemma-4's
    tok = JsonTokenizer(data, config, max_length=8, source="tiny")
    bos, pad, eos = (tok.tok.convert_tokens_to_ids(t) for t in ("<bos>", "<pad>", "<eos>"))
    ids, mask = tok(["", "  a cat walks slowly across a sunlit garden  ", "<|image|>"])
    assert ids[0].tolist() == [pad] * 7 + [bos] and mask[0].tolist() == [0] * 7 + [1]
    assert ids[1, 0] == bos and mask[1].all()  # <bos> prepended, then cut to 8
    assert ids[2, -2:].tolist() == [bos, tok.tok.convert_tokens_to_ids("<|image|>")]  # special tokens stay whole
    no_pad = JsonTokenizer(data, {k: v for k, v in config.items() if k != "pad_token"}, max_length=4, source="tiny")
    assert no_pad("")[0].tolist() == [[eos] * 3 + [bos]]  # no pad token: <eos> pads
    with pytest.raises(ValueError, match="cannot be read"):
        JsonTokenizer(b"{", config, max_length=4, source="broken")


def test_t5_tokenizer_cuts_before_eos(tiny_t5):
    tok = SentencePieceTokenizer(tiny_t5 / "tokenizer" / "spiece.model", kind="t5", max_length=6)
    ids, mask = tok(["a cat walks slowly across a sunlit garden", "snow"])
    assert ids[0, -1] == tok.sp.eos_id() and mask[0].all()
    assert mask[1].tolist()[-1] == 0 and ids[1, mask[1].sum() - 1] == tok.sp.eos_id()
    with pytest.raises(FileNotFoundError, match="sentencepiece"):
        SentencePieceTokenizer(tiny_t5 / "nothing.model", kind="t5", max_length=6)


# -- Gemma and T5 folders -------------------------------------------------------------------------
def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _rekey(folder, rename):
    ckpt = Checkpoint(folder / "model.safetensors")
    data = {rename(k): ckpt.tensor(k).clone() for k in ckpt.tensors}
    del ckpt
    save_file(data, str(folder / "model.safetensors"))


def test_gemma_tokenizer_json_and_sentencepiece_agree(tiny_gemma, tmp_path):
    folder = _copy(tiny_gemma, tmp_path / "g")
    (folder / "tokenizer.json").unlink()  # a folder with tokenizer.model only: read by sentencepiece
    prompts = [*PROMPTS, "<start_of_turn>a <image_soft_token> b<end_of_turn>", "x " * 2000]
    json_ids = Gemma(tiny_gemma, dtype=torch.float32, max_length=64).tokenizer(prompts)
    sp_ids = Gemma(folder, dtype=torch.float32, max_length=64).tokenizer(prompts)
    assert torch.equal(json_ids[0], sp_ids[0]) and torch.equal(json_ids[1], sp_ids[1])


@pytest.mark.parametrize(
    "layout",
    [lambda k: k.replace("language_model.model.", "model.language_model.", 1),  # transformers 5 names
     lambda k: k.replace("language_model.model.", "model.", 1)],  # text-only Gemma3ForCausalLM
)  # fmt: skip
def test_gemma_loads_from_other_key_layouts(tiny_gemma, tmp_path, layout):
    folder = _copy(tiny_gemma, tmp_path / "g")
    _rekey(folder, layout)
    ids = Gemma(tiny_gemma, dtype=torch.float32, max_length=64).encode(PROMPTS)[0][-1]
    assert torch.equal(Gemma(folder, dtype=torch.float32, max_length=64).encode(PROMPTS)[0][-1], ids)


def test_gemma_folder_errors(tiny_gemma, tmp_path):
    with pytest.raises(CheckpointError, match="no such Gemma folder"):
        Gemma(tmp_path / "missing")
    folder = _copy(tiny_gemma, tmp_path / "g")
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.model").unlink()
    with pytest.raises(CheckpointError, match="no tokenizer.json or tokenizer.model"):
        Gemma(folder)
    folder = _copy(tiny_gemma, tmp_path / "g2")
    _rekey(folder, lambda k: "x." + k if k.endswith("layers.1.mlp.up_proj.weight") else k)
    with pytest.raises(CheckpointError, match=r"1 missing: language_model\.model\.layers\.1\.mlp\.up_proj"):
        Gemma(folder)
    folder = _copy(tiny_gemma, tmp_path / "g3")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="incomplete: 2 of 2 weight shards are missing"):
        Gemma(folder)
    folder = _copy(tiny_gemma, tmp_path / "g4")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        Gemma(folder)
    folder = _copy(tiny_gemma, tmp_path / "g5")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(CheckpointError, match="not a Gemma-3 model"):
        Gemma(folder)


def test_t5_flat_folder_and_errors(tiny_t5, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(tiny_t5 / "text_encoder", flat)
    shutil.copy(tiny_t5 / "tokenizer" / "spiece.model", flat)
    a = T5(flat, dtype=torch.float32).encode(PROMPTS)[0]
    assert torch.equal(a, T5(tiny_t5, dtype=torch.float32).encode(PROMPTS)[0])
    (flat / "spiece.model").unlink()
    with pytest.raises(CheckpointError, match="no spiece.model"):
        T5(flat)


# -- the checkpoint's text side -------------------------------------------------------------------
def test_text_side_loading_errors(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="this slot expects a file with the text connectors"):
        load_text_processor(tiny["ltx-2.0-video-only-tiny"])
    with pytest.raises(ConfigError, match="takes 96 features per token, but a Gemma with 48 layers of 3840"):
        load_text_processor(tiny["ltx-2.0-tiny"])
    path = tiny["ltx-2.3-tiny"]
    missing = rewrite(
        path, tmp_path / "m.safetensors", lambda t: t.pop("text_embedding_projection.video_aggregate_embed.bias")
    )
    with pytest.raises(CheckpointError, match="1 missing: text_embedding_projection.video_aggregate_embed.bias"):
        load_text_processor(missing, gemma_hidden=24, gemma_layers=3)
    partial = rewrite(path, tmp_path / "p.safetensors", transformer_config=lambda c: c.pop("caption_proj_input_norm"))
    with pytest.raises(ConfigError, match="partial LTX-2.3 text config"):
        load_text_processor(partial, gemma_hidden=24, gemma_layers=3)


def test_text_config_defaults_and_audio_fallback():
    cfg = TextConfig.from_metadata({"connector_num_attention_heads": 4, "connector_attention_head_dim": 16})
    assert cfg.version == "v1" and cfg.audio == cfg.video and cfg.video.dim == 64 and cfg.video.max_pos == (1,)
    assert cfg.video.rope_type == "split" and cfg.video.ff_bias  # ltx-core 1.2.0's defaults
    no_bias = TextConfig.from_metadata({"connector_ff_bias": False, "audio_connector_num_layers": 3})
    assert not no_bias.video.ff_bias and not no_bias.audio.ff_bias and no_bias.audio.layers == 3
    assert TextConfig.from_metadata(no_bias.to_metadata()) == no_bias
    assert TextConfig.from_metadata({}, audio=False).audio is None
    with pytest.raises(ConfigError, match="version"):
        TextConfig("v3", cfg.video, None)


# -- prompt cache ---------------------------------------------------------------------------------
def test_encode_command_writes_a_cache_that_loads_back(tiny, tiny_gemma, tmp_path, capsys):
    out = tmp_path / "prompts.safetensors"
    args = ["encode", "--checkpoint", str(tiny["ltx-2.3-tiny"]), "--gemma", str(tiny_gemma), "--dtype", "float32"]
    assert main(args + ["--prompt", PROMPTS[0], "--prompt", PROMPTS[1], "--output", str(out)]) == 0
    assert "2 prompt(s)" in capsys.readouterr().out
    embeddings, prompts, info = load_prompt_embeddings(out)
    ref = TextEncoder(tiny_gemma, tiny["ltx-2.3-tiny"], dtype=torch.float32).encode(PROMPTS[:2])
    assert prompts == PROMPTS[:2] and info["model"] == "ltx-2"
    assert torch.equal(embeddings.video, ref.video) and torch.equal(embeddings.audio, ref.audio)
    assert main(["encode", "--gemma", str(tiny_gemma), "--prompt", "x", "--output", str(out)]) == 2
    with pytest.raises(CheckpointError, match="not a prompt-embeddings file"):
        load_prompt_embeddings(tiny["ltx-2.0-tiny"])


def test_cache_round_trip_without_audio(tmp_path):
    from ltx.text.processor import PromptEmbeddings

    e = PromptEmbeddings(torch.randn(2, 8, 4), None, torch.ones(2, 8, dtype=torch.long))
    save_prompt_embeddings(tmp_path / "c.safetensors", e, ["a", "b"], model="ltx-video")
    back, prompts, info = load_prompt_embeddings(tmp_path / "c.safetensors", dtype=torch.bfloat16)
    assert back.audio is None and back.video.dtype == torch.bfloat16 and back.mask.dtype == torch.long
    with pytest.raises(ValueError, match="3 prompts for a batch of 2"):
        save_prompt_embeddings(tmp_path / "d.safetensors", e, ["a", "b", "c"])


@pytest.mark.parametrize(
    "name, params", [("ltx-2-19b", 1_431_475_200), ("ltx-2.3-22b", 3_172_227_584), ("ltx-2.5-22b", 3_172_227_584)]
)
def test_full_size_text_side_matches_official_manifest(name, params):
    from pathlib import Path

    from ltx.config import TEXT_PRESETS
    from ltx.text.processor import TextProcessor

    manifest = json.loads((Path(__file__).parent.parent / "weights" / "manifests" / f"{name}.text.json").read_text())
    cfg = TEXT_PRESETS[name]
    assert TextConfig.from_metadata(manifest["config"]["transformer"]) == cfg  # the config reads back as the preset
    with torch.device("meta"):
        module = TextProcessor(cfg)
    prefix = "model.diffusion_model."
    ours = {(k if k.startswith("text_") else prefix + k): list(t.shape) for k, t in module.state_dict().items()}
    assert ours == {k: v[0] for k, v in manifest["tensors"].items()}
    assert sum(p.numel() for p in module.parameters()) == manifest["parameters"] == params


def test_a_video_only_text_side_loads_without_audio(tiny, tmp_path):
    prefix = "model.diffusion_model."

    def video_only(t):
        for k in list(t):
            if k.startswith(prefix + "audio_embeddings_connector."):
                del t[k]
            elif k.startswith(prefix + "video_embeddings_connector."):
                t[k.replace("video_embeddings_connector.", "embeddings_connector.")] = t.pop(k)

    path = rewrite(tiny["ltx-2.0-tiny"], tmp_path / "v.safetensors", video_only)
    dims = dict(gemma_hidden=24, gemma_layers=3)
    ours, full = load_text_processor(path, **dims), load_text_processor(tiny["ltx-2.0-tiny"], **dims)
    assert ours.audio_embeddings_connector is None
    states = tuple(torch.randn(1, 128, 24) for _ in range(4))
    mask = torch.ones(1, 128, dtype=torch.long)
    got, ref = ours(states, mask), full(states, mask)
    assert got.audio is None and torch.equal(got.video, ref.video)
