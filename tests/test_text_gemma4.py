"""LTX-2.5's text side: a Gemma-4 "with-proj" text encoder file (both key layouts) with the transformer file's
connectors, end to end against ltx-core 1.2.0's own text encoder and embeddings processor; connector options new
in 1.2.0 (connector_ff_bias); connectors whose audio depth and heads differ from the video ones; the errors."""

import json

import pytest
import torch
from util import failed_rows, needs_oracle, rewrite

from ltx import CheckpointError
from ltx.cli import main
from ltx.parity.text import gemma_parity, text_parity
from ltx.parity.text_files import (
    GEMMA4_PROMPTS,
    GEMMA4_TINY,
    write_connectors,
    write_gemma4_file,
    write_text_side,
)
from ltx.text.encoder import TextEncoder, load_prompt_embeddings
from ltx.text.gemma4 import Gemma4
from ltx.text.processor import load_text_processor

pytest.importorskip("ltx_core", reason="the tiny files take their tensor names from the official ltx-core")
pytestmark = [pytest.mark.oracle, needs_oracle("1.2.0")]
LAYERS = GEMMA4_TINY["num_hidden_layers"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text25")
    return {
        "hf": write_gemma4_file(folder / "gemma4-tiny-with-proj.safetensors"),
        "flat": write_gemma4_file(folder / "gemma4-tiny-with-proj-comfy.safetensors", layout="flat"),
        "connectors": write_connectors(folder / "ltx-2.5-tiny-transformer.safetensors"),
        "asymmetric": write_text_side(folder / "ltx-2.3-asymmetric-text.safetensors"),
    }


def _exact(rows):
    return [r for r in rows if not r.passed or r.max_abs]


# -- parity ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["hf", "flat"])
def test_prompts_to_contexts_bitwise_against_official_gemma4_path(files, layout):
    rows = gemma_parity(files["connectors"], files[layout], prompts=GEMMA4_PROMPTS)
    names = {r.name for r in rows}
    assert {f"gemma/hidden_states.{i}" for i in range(LAYERS + 1)} <= names
    assert {"tokens/ids", "text_embedding_projection", "audio_embeddings_connector.transformer_1d_blocks.2"} <= names
    assert len({r.group for r in rows}) == 2 and not _exact(rows)  # the official whole batch and one by one


def test_gemma4_bf16_bitwise_against_official_bf16(files):
    rows = gemma_parity(files["connectors"], files["hf"], prompts=GEMMA4_PROMPTS, dtype=torch.bfloat16)
    assert not _exact(rows)  # the same transformers class, loaded and cast as the official loads it
    rows = text_parity(files["connectors"], text_encoder=files["hf"], dtype=torch.bfloat16)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]  # 2x the official's own bf16 error


def test_gemma4_rotary_and_embedding_scale_are_the_official_ones(files):
    from ltx.parity.text_oracle import official_text_encoder

    official = official_text_encoder(files["hf"], torch.device("cpu"), torch.float32).model.model.language_model
    ours = Gemma4(files["hf"], dtype=torch.float32).model.language_model
    theirs = dict(official.rotary_emb.named_buffers())
    assert {n for n, _ in ours.rotary_emb.named_buffers()} == set(theirs) and len(theirs) == 4
    for name, buffer in ours.rotary_emb.named_buffers():
        assert torch.equal(buffer, theirs[name]), name
    assert torch.equal(ours.embed_tokens.embed_scale, official.embed_tokens.embed_scale)
    assert ours.rotary_emb.full_attention_inv_freq.numel() == 8  # global_head_dim 16 / 2 (proportional RoPE)


def test_text_side_with_projection_from_the_text_encoder_file(files):
    rows = text_parity(files["connectors"], text_encoder=files["hf"])
    assert len(rows) == 2 * (1 + 2 + 3 + 3) and not _exact(rows)


def test_connectors_without_ff_bias(files, tmp_path):
    processor = load_text_processor(files["connectors"], text_encoder=files["hf"], gemma_hidden=32, gemma_layers=4)
    ff = processor.video_embeddings_connector.transformer_1d_blocks[0].ff.net
    assert ff[0].proj.bias is None and ff[2].bias is None
    # a file that says connector_ff_bias=false but stores the biases is refused (the official would drop them)
    no_bias = lambda c: c.update(connector_ff_bias=False)  # noqa: E731
    biased = rewrite(files["asymmetric"], tmp_path / "b.safetensors", transformer_config=no_bias)
    with pytest.raises(CheckpointError, match=r"unexpected: .*audio_\w+\.transformer_1d_blocks\.0\.ff"):
        load_text_processor(biased, gemma_hidden=24, gemma_layers=3)


def test_asymmetric_connector_depths_and_heads(files, tiny_gemma):
    processor = load_text_processor(files["asymmetric"], gemma_hidden=24, gemma_layers=3)
    assert (processor.cfg.video.layers, processor.cfg.audio.layers) == (2, 3)
    assert (processor.cfg.video.heads, processor.cfg.audio.heads) == (4, 2)
    rows = text_parity(files["asymmetric"])
    assert "audio_embeddings_connector.transformer_1d_blocks.2" in {r.name for r in rows} and not _exact(rows)
    assert not _exact(gemma_parity(files["asymmetric"], tiny_gemma))


def test_files_through_ltx_parity(files, capsys):
    assert main(["parity", str(files["asymmetric"]), "--parts", "text"]) == 0  # audio connector deeper than video
    assert "audio_embeddings_connector.transformer_1d_blocks.2" in capsys.readouterr().out
    # LTX-2.5: the connectors file with the projection from the text encoder file
    assert main(["parity", str(files["connectors"]), "--text-encoder", str(files["flat"]), "--parts", "text"]) == 0
    assert "ltx-2.5-tiny-transformer text side" in capsys.readouterr().out


def test_a_wrong_gemma4_weight_fails_from_its_layer_on(files):
    def edit(encoder):
        encoder.gemma.model.language_model.layers[2].mlp.down_proj.weight.data[0, 0] += 1e-2

    failed = failed_rows(gemma_parity(files["connectors"], files["hf"], prompts=GEMMA4_PROMPTS, edit_ours=edit))
    assert "gemma/hidden_states.2" not in failed and {"gemma/hidden_states.3", "out/video", "out/audio"} <= failed
    assert not {"tokens/ids", "gemma/hidden_states.0"} & failed


# -- batches and the command ----------------------------------------------------------------------
def test_a_gemma4_batch_equals_its_prompts_one_by_one(files):
    encoder = TextEncoder(files["flat"], files["connectors"], dtype=torch.float32, max_length=64)
    batch = encoder.encode(GEMMA4_PROMPTS)
    for i, prompt in enumerate(GEMMA4_PROMPTS):
        one = encoder.encode([prompt])
        torch.testing.assert_close(batch.video[i], one.video[0], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(batch.audio[i], one.audio[0], rtol=1e-6, atol=1e-6)


def test_encode_command_takes_the_text_encoder_file(files, tmp_path):
    out = tmp_path / "p.safetensors"
    args = ["encode", "--checkpoint", str(files["connectors"]), "--text-encoder", str(files["hf"])]
    assert main(args + ["--dtype", "float32", "--prompt", "a cat", "--output", str(out)]) == 0
    embeddings, prompts, _ = load_prompt_embeddings(out)
    ref = TextEncoder(files["hf"], files["connectors"], dtype=torch.float32).encode(["a cat"])
    assert (
        prompts == ["a cat"] and torch.equal(embeddings.video, ref.video) and torch.equal(embeddings.audio, ref.audio)
    )


# -- errors ---------------------------------------------------------------------------------------
def test_wrong_files_are_refused(files, tiny, tiny_gemma):
    with pytest.raises(CheckpointError, match="not a text encoder file"):
        TextEncoder(files["connectors"], files["connectors"])
    with pytest.raises(CheckpointError, match="holds no text side"):
        TextEncoder(files["hf"], files["hf"])
    with pytest.raises(CheckpointError, match="takes Gemma-3"):  # a 2.3 checkpoint with a Gemma-4
        TextEncoder(files["hf"], tiny["ltx-2.3-tiny"])
    with pytest.raises(CheckpointError, match="gemma_version='gemma4-tiny-ltx-test'"):  # 2.5 with a Gemma-3
        TextEncoder(tiny_gemma, files["connectors"])
    with pytest.raises(CheckpointError, match="hold a text projection"):
        load_text_processor(files["asymmetric"], text_encoder=files["hf"], gemma_hidden=32, gemma_layers=4)
    with pytest.raises(CheckpointError, match="LTX-2.5 keeps it in its text encoder file"):
        load_text_processor(files["connectors"], gemma_hidden=32, gemma_layers=4)


def test_gemma_version_rules(files, tmp_path):
    other = write_connectors(tmp_path / "other.safetensors", gemma_version="gemma4-12b-ltx-v1")
    with pytest.raises(CheckpointError, match="trained with the Gemma gemma_version='gemma4-12b-ltx-v1'"):
        TextEncoder(files["hf"], other)
    unnamed = write_connectors(tmp_path / "unnamed.safetensors", gemma_version=None)  # model_version 2.5.0
    with pytest.raises(CheckpointError, match="must name its Gemma"):
        TextEncoder(files["hf"], unnamed)


def test_text_encoder_file_errors(files, tmp_path):
    for key, message in (("tokenizer_json", "lacks its tokenizer.json"),
                         ("hf_asset__tokenizer_config.json", "lacks its tokenizer_config.json"),
                         ("model.language_model.layers.1.self_attn.q_norm.weight",
                          r"1 missing: model\.language_model\.layers\.1\.self_attn\.q_norm\.weight")):  # fmt: skip
        broken = write_gemma4_file(tmp_path / "broken.safetensors", drop=(key,))
        with pytest.raises(CheckpointError, match=message):
            Gemma4(broken)
    extra = rewrite(
        files["hf"], tmp_path / "extra.safetensors", lambda t: t.update({"lm_head.weight": t["tokenizer_json"].clone()})
    )
    with pytest.raises(CheckpointError, match=r"1 unexpected: lm_head\.weight"):
        Gemma4(extra)
    from ltx import Checkpoint

    meta = dict(Checkpoint(files["hf"]).metadata)
    meta["gemma_config"] = json.dumps({**json.loads(meta["gemma_config"]), "model_type": "gemma3"})
    with pytest.raises(CheckpointError, match="holds a 'gemma3' model"):
        Gemma4(rewrite(files["hf"], tmp_path / "g3.safetensors", metadata=meta))
