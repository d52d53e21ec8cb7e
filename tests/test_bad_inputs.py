"""Bad input, table-driven: every entry (the safetensors reader, the loaders, configs, Models and requests, the
sampler, the VAE decoder, LTX-Video, training, offload, media, the CLI) refuses it before any work with an error
of a known type whose message names the culprit; plus a fuzz test of the header reader. Tiny files are written
from our own modules (ltx.testing): no official package is needed."""

import json
import math
import random
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.config import ConfigError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from ltx.parity.pipeline_fixtures import write_prompt_file
    from ltx.testing import write_tiny_checkpoint

    d = tmp_path_factory.mktemp("bad")
    out = {"dir": d, "ckpt": write_tiny_checkpoint("ltx-2.3-tiny", d / "tiny.safetensors"),
           "ckpt20": write_tiny_checkpoint("ltx-2.0-tiny", d / "tiny20.safetensors")}  # fmt: skip
    out["prompts"] = write_prompt_file(out["ckpt"], d / "prompts.safetensors", ["a", "b"], 0)
    out["prompts20"] = write_prompt_file(out["ckpt20"], d / "prompts20.safetensors", ["a", "b"], 0)
    save_file({"x": torch.zeros(2, 3), "y": torch.ones(4, dtype=torch.int64)}, str(d / "small.safetensors"),
              metadata={"config": json.dumps({"transformer": {"num_layers": 3}})})  # fmt: skip
    (d / "note.txt").write_text("not media")
    png = d / "ok.png"
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 10, 10)).save(png)
    (d / "cut.png").write_bytes(png.read_bytes()[:60])
    return out


def _raw(files) -> tuple[dict, bytes]:
    data = (files["dir"] / "small.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _write(files, name, header: dict | bytes, body: bytes | None = None, length: int | None = None) -> Path:
    default_header, default_body = _raw(files)
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = files["dir"] / f"{name}.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw +
                     (default_body if body is None else body))  # fmt: skip
    return path


def _edit(files, name, change) -> Path:
    header, _ = _raw(files)
    change(header)
    return _write(files, name, header)


def _entry(key, **fields):
    def change(h):
        h[key].update(fields)

    return change


def _cli(args, capsys) -> str:
    from ltx.cli import main

    try:
        code = main(args)
    except SystemExit as e:  # argparse's usage error
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    return err


# -- the table: (id, action(files, capsys) -> raises or returns the stderr, error type or "cli", message) ----------
def _models(files, **kw):
    from ltx.pipelines import Models

    return Models(files["ckpt"], prompts=files["prompts"], **{"device": "cpu", **kw})


def _run(files, **req):
    from ltx.pipelines import Request, run_pipeline

    r = Request("a", negative_prompt="b", **{"frames": 9, "height": 64, "width": 64, "steps": 1, **req})
    return run_pipeline("one-stage", _models(files, dtype=torch.float32), r)


def _gen(files, *extra):
    out = str(files["dir"] / "o.mp4")
    return ["generate", "--checkpoint", str(files["ckpt"]), "--prompts", str(files["prompts"]), "--prompt", "a",
            "--device", "cpu", "--height", "64", "--width", "64", "--frames", "9", "--output", out, *extra]  # fmt: skip


CASES = [
    # the safetensors reader
    ("missing-file", lambda f, c: Checkpoint(f["dir"] / "nope.safetensors"), CheckpointError, "nope.safetensors: no such file"),
    ("too-short", lambda f, c: _short(f), CheckpointError, "too short for a header"),
    ("header-length", lambda f, c: Checkpoint(_write(f, "len", _raw(f)[0], length=10**9)), CheckpointError, "header length field says"),
    ("not-json", lambda f, c: Checkpoint(_write(f, "nojson", b"{oops")), CheckpointError, "header is not valid JSON"),
    ("json-list", lambda f, c: Checkpoint(_write(f, "jlist", b"[1, 2]")), CheckpointError, "header is not a JSON object"),
    ("metadata-list", lambda f, c: Checkpoint(_edit(f, "mlist", lambda h: h.update(__metadata__=[1]))), CheckpointError, "'__metadata__' must map names to strings"),
    ("metadata-number", lambda f, c: Checkpoint(_edit(f, "mnum", lambda h: h.update(__metadata__={"a": 1}))), CheckpointError, "'__metadata__' must map names to strings"),
    ("entry-not-object", lambda f, c: Checkpoint(_edit(f, "eno", lambda h: h.update(x=[1]))), CheckpointError, "malformed header entry for 'x'"),
    ("entry-extra-key", lambda f, c: Checkpoint(_edit(f, "eek", _entry("x", extra=1))), CheckpointError, "expected exactly dtype, shape and data_offsets"),
    ("unknown-dtype", lambda f, c: Checkpoint(_edit(f, "udt", _entry("x", dtype="F128"))), CheckpointError, "unknown dtype"),
    ("negative-shape", lambda f, c: Checkpoint(_edit(f, "neg", _entry("x", shape=[-2, -3]))), CheckpointError, "non-negative integers"),
    ("shape-string", lambda f, c: Checkpoint(_edit(f, "shs", _entry("x", shape="2x3"))), CheckpointError, "shape must be a list"),
    ("offsets-bool", lambda f, c: Checkpoint(_edit(f, "offb", _entry("x", data_offsets=[False, True]))), CheckpointError, "data_offsets must be two"),
    ("offsets-three", lambda f, c: Checkpoint(_edit(f, "off3", _entry("x", data_offsets=[0, 24, 48]))), CheckpointError, "data_offsets must be two"),
    ("offsets-reversed", lambda f, c: Checkpoint(_edit(f, "offr", _entry("x", data_offsets=[56, 32]))), CheckpointError, "offsets span"),
    ("size-mismatch", lambda f, c: Checkpoint(_edit(f, "szm", _entry("x", shape=[2, 4]))), CheckpointError, "its shape and dtype need 32"),
    ("overlap", lambda f, c: Checkpoint(_edit(f, "ovl", _entry("x", data_offsets=[24, 48]))), CheckpointError, "overlaps the tensor before it"),
    ("gap", lambda f, c: Checkpoint(_edit(f, "gap", _entry("x", data_offsets=[40, 64]))), CheckpointError, "leaves a gap"),
    ("trailing", lambda f, c: Checkpoint(_write(f, "trail", _raw(f)[0], body=_raw(f)[1] + b"junk")), CheckpointError, "bytes after the last tensor"),
    ("truncated", lambda f, c: Checkpoint(_write(f, "trunc", _raw(f)[0], body=_raw(f)[1][:-8])), CheckpointError, "file is truncated"),
    ("config-not-json", lambda f, c: _write_config(f, "{x").config, CheckpointError, "'config' metadata is not valid JSON"),
    ("config-list", lambda f, c: _write_config(f, "[1]").config, CheckpointError, "'config' metadata must be a JSON object"),
    ("section-list", lambda f, c: _write_config(f, '{"transformer": [1]}').section("transformer"), CheckpointError, "'transformer' section must be a JSON object"),
    # loaders and configs
    ("number-as-string", lambda f, c: _config_with(f, num_layers="3"), ConfigError, "num_layers='3'"),
    ("list-for-number", lambda f, c: _config_with(f, attention_head_dim=[8]), ConfigError, "attention_head_dim=\\[8\\]"),
    ("int-weight", lambda f, c: _int_weight(f), CheckpointError, "wrong kind of dtype .*patchify_proj.weight: stored torch.int32"),
    ("ltxv-loader-on-ltx2", lambda f, c: __import__("ltx.dit.ltxv", fromlist=["x"]).load_ltxv_transformer(f["ckpt"]), CheckpointError, "not LTX-Video 0.9.x's .* ltx.load_transformer"),
    ("loader-cuda-absent", lambda f, c: __import__("ltx.dit", fromlist=["x"]).load_transformer(f["ckpt"], device="cuda") if not torch.cuda.is_available() else _raise(ValueError("torch sees no CUDA device (skipped: CUDA present)")), ValueError, "torch sees no CUDA device"),
    ("loader-dtype", lambda f, c: __import__("ltx.dit", fromlist=["x"]).load_transformer(f["ckpt"], dtype="int8"), ValueError, "tiny.safetensors: dtype must be one of torch.bfloat16"),
    ("lora-not-lora", lambda f, c: __import__("ltx.lora", fromlist=["x"]).load_lora(f["dir"] / "small.safetensors"), CheckpointError, "small.safetensors: holds no LTX component .* expects a LoRA file"),
    ("lora-nan", lambda f, c: __import__("ltx.lora", fromlist=["x"]).load_lora(f["ckpt"], float("nan")), ValueError, "strength must be a finite number, got nan"),
    ("lora-string", lambda f, c: __import__("ltx.lora", fromlist=["x"]).load_lora(f["ckpt"], "0.5"), ValueError, "strength must be a finite number, got '0.5'"),
    # Models and requests
    ("cuda-absent", lambda f, c: _models(f, device="cuda") if not torch.cuda.is_available() else _raise(ValueError("torch sees no CUDA device (skipped: CUDA present)")), ValueError, "torch sees no CUDA device"),
    ("dtype-float8", lambda f, c: _models(f, dtype=torch.float8_e4m3fn), ValueError, "dtype must be one of torch.bfloat16"),
    ("dtype-name", lambda f, c: _models(f, dtype="float64"), ValueError, "dtype must be one of \\['bfloat16', 'float16', 'float32'\\], got 'float64'"),
    ("budget-negative", lambda f, c: _models(f, gpu_memory=-1), ValueError, "gpu_memory is a budget in GiB"),
    ("offload-unknown", lambda f, c: _models(f, offload="ram"), ValueError, "offload must be 'cpu' or 'disk'"),
    ("steps-zero", lambda f, c: _run(f, steps=0), ValueError, "steps must be a whole number >= 1 .* got 0"),
    ("steps-float", lambda f, c: _run(f, steps=2.5), ValueError, "steps must be a whole number >= 1 .* got 2.5"),
    ("seed-string", lambda f, c: _run(f, seed="7"), ValueError, "seed must be a whole number, got '7'"),
    ("stg-block-outside", lambda f, c: _run(f, video_guidance=_guidance(stg=1.0, stg_blocks=(9,))), ValueError, "STG blocks \\[9\\] are outside the transformer's 3 blocks"),
    ("cfg-nan", lambda f, c: _run(f, video_guidance=_guidance(cfg=float("nan"))), ValueError, "video_guidance: scales must be finite numbers"),
    ("frames", lambda f, c: _run(f, frames=10), ValueError, "1 \\+ 8k"),
    ("height", lambda f, c: _run(f, height=70), ValueError, "multiple"),
    ("prompts-for-another", lambda f, c: _run_prompts(f), ValueError, "prompts20.safetensors: its video contexts are .* another checkpoint"),
    ("prompt-missing", lambda f, c: _missing_prompt(f), ValueError, "has no embeddings for the prompt 'zzz'"),
    ("nan-weights", lambda f, c: _nan_run(f), FloatingPointError, "step 1 of 2: the video stream's denoised latent holds NaN"),
    ("transformer-input-dtype", lambda f, c: _forward_float32_into_bf16(f), ValueError, "video stream: latent is torch.float32 .* computes in torch.bfloat16"),
    # the VAE decoder
    ("decode-nan", lambda f, c: _decoder(f)(torch.full((1, 128, 2, 2, 2), float("nan"))), ValueError, "latent to decode holds NaN"),
    ("decode-shape", lambda f, c: _decoder(f)(torch.zeros(1, 64, 2, 2, 2)), ValueError, "latent must be \\(B, 128"),
    # LTX-Video
    ("ltxv-frames", lambda f, c: __import__("ltx.pipelines.ltxv", fromlist=["x"]).LTXVRequest(64, 64, 10), ValueError, "frames must be 8k \\+ 1"),
    ("ltxv-tone-map", lambda f, c: __import__("ltx.pipelines.ltxv", fromlist=["x"]).LTXVRequest(64, 64, 9, tone_map=2), ValueError, "tone_map must be in \\[0, 1\\]"),
    ("ltxv-condition-nan", lambda f, c: _ltxv_condition_nan(), ValueError, "conditions\\[0\\].strength must be in \\[0, 1\\], got nan"),
    # training and offload
    ("train-unknown-key", lambda f, c: _train_file(f, "learning_rat: 1"), ValueError, "unknown settings \\['learning_rat'\\]"),
    ("train-rank", lambda f, c: _train_config(f, rank=0), ValueError, "rank must be a whole number >= 1"),
    ("train-lr-nan", lambda f, c: _train_config(f, learning_rate=float("nan")), ValueError, "learning_rate must be a positive number"),
    ("train-no-data", lambda f, c: _train(f), FileNotFoundError, "no latents/ folder"),
    ("offload-budget", lambda f, c: __import__("ltx.offload", fromlist=["x"]).plan(48, 2**28, 2**30, 2**30, 2**30), ValueError, "below what the transformer needs at the least"),
    # media
    ("image-cut", lambda f, c: __import__("ltx.media", fromlist=["x"]).load_image(f["dir"] / "cut.png"), ValueError, "cut.png: the image cannot be decoded"),
    ("image-not", lambda f, c: __import__("ltx.media", fromlist=["x"]).load_image(f["dir"] / "note.txt"), ValueError, "note.txt: not an image"),
    ("image-missing", lambda f, c: __import__("ltx.media", fromlist=["x"]).load_image(f["dir"] / "gone.png"), FileNotFoundError, "gone.png: no such image file"),
    ("video-not", lambda f, c: __import__("ltx.media", fromlist=["x"]).read_video(f["dir"] / "note.txt"), ValueError, "note.txt: not a video file PyAV can read"),
    ("audio-not", lambda f, c: __import__("ltx.media", fromlist=["x"]).read_audio(f["dir"] / "note.txt"), ValueError, "note.txt: not a audio or video file"),
    # the command line
    ("cli-stg-blocks", lambda f, c: _cli(_gen(f, "--stg-blocks", "a,b"), c), "cli", "expected comma-separated block numbers"),
    ("cli-lora-word", lambda f, c: _cli(_gen(f, "--lora", str(f["ckpt"]), "abc"), c), "cli", "--lora: .*: the strength: expected a number, got 'abc'"),
    ("cli-lora-nan", lambda f, c: _cli(_gen(f, "--lora", str(f["ckpt"]), "nan"), c), "cli", "expected a finite number, got 'nan'"),
    ("cli-steps", lambda f, c: _cli(_gen(f, "--steps", "0"), c), "cli", "--steps: expected a whole number >= 1"),
    ("cli-cfg-inf", lambda f, c: _cli(_gen(f, "--video-cfg", "inf"), c), "cli", "--video-cfg: expected a finite number"),
    ("cli-output-folder-missing", lambda f, c: _cli([*_gen(f)[:-2], "--output", str(f["dir"] / "no" / "o.mp4")], c), "cli", "the folder .*no does not exist"),
    ("cli-output-is-folder", lambda f, c: _cli([*_gen(f)[:-2], "--output", str(f["dir"])], c), "cli", "is a folder; give a file name"),
    ("cli-gemma-and-prompts", lambda f, c: _cli([*_gen(f), "--gemma", "x"], c), "cli", "--gemma DIR or --prompts FILE"),
    ("cli-inspect-missing", lambda f, c: _cli(["inspect", str(f["dir"] / "gone.safetensors")], c), "cli", "gone.safetensors"),
    ("cli-encode-no-checkpoint", lambda f, c: _cli(["encode", "--prompt", "a", "--gemma", "x", "--output", "o"], c), "cli", "--gemma needs --checkpoint"),
    ("cli-train-missing", lambda f, c: _cli(["train", str(f["dir"] / "gone.yaml")], c), "cli", "no such training config"),
]  # fmt: skip


def _raise(e):
    raise e


def _short(f):
    p = f["dir"] / "short.safetensors"
    p.write_bytes(b"abc")
    return Checkpoint(p)


def _write_config(f, config: str) -> Checkpoint:
    p = f["dir"] / f"cfg{abs(hash(config))}.safetensors"
    save_file({"x": torch.zeros(1)}, str(p), metadata={"config": config})
    return Checkpoint(p)


def _config_with(f, **changes):
    from ltx.dit import load_transformer

    ckpt = Checkpoint(f["ckpt"])
    config = {**ckpt.config, "transformer": {**ckpt.config["transformer"], **changes}}
    p = f["dir"] / f"tr{'_'.join(changes)}.safetensors"
    save_file({k: ckpt.tensor(k).clone() for k in ckpt.tensors}, str(p),
              metadata={**ckpt.metadata, "config": json.dumps(config)})  # fmt: skip
    return load_transformer(p)


def _int_weight(f):
    from ltx.dit import load_transformer

    ckpt = Checkpoint(f["ckpt"])
    key = "model.diffusion_model.patchify_proj.weight"
    tensors = {k: ckpt.tensor(k).clone() for k in ckpt.tensors}
    tensors[key] = tensors[key].to(torch.int32)
    p = f["dir"] / "intw.safetensors"
    save_file(tensors, str(p), metadata=ckpt.metadata)
    return load_transformer(p)


def _guidance(**kw):
    from ltx.sampling import Guidance

    return Guidance(**kw)


def _run_prompts(f):
    from ltx.pipelines import Models, Request, run_pipeline

    m = Models(f["ckpt"], prompts=f["prompts20"], device="cpu", dtype=torch.float32)
    return run_pipeline("one-stage", m, Request("a", negative_prompt="b", frames=9, height=64, width=64, steps=1))


def _missing_prompt(f):
    from ltx.pipelines import Request, run_pipeline

    r = Request("zzz", negative_prompt="b", frames=9, height=64, width=64, steps=1)
    return run_pipeline("one-stage", _models(f, dtype=torch.float32), r)


def _nan_run(f):
    ckpt = Checkpoint(f["ckpt"])
    tensors = {k: ckpt.tensor(k).clone() for k in ckpt.tensors}
    tensors["model.diffusion_model.proj_out.bias"][:] = float("nan")
    p = f["dir"] / "nanw.safetensors"
    save_file(tensors, str(p), metadata=ckpt.metadata)
    from ltx.pipelines import Models, Request, run_pipeline

    m = Models(p, prompts=f["prompts"], device="cpu", dtype=torch.float32)
    return run_pipeline("one-stage", m, Request("a", negative_prompt="b", frames=9, height=64, width=64, steps=2))


def _forward_float32_into_bf16(f):
    from ltx.dit import Stream, load_transformer
    from ltx.dit.latents import video_positions

    m = load_transformer(f["ckpt"], dtype=torch.bfloat16)
    width = m.cfg.inner_dim if m.cfg.caption_proj_before_connector else m.cfg.caption_channels
    v = Stream(torch.randn(1, 6, 128), torch.tensor([0.5]), torch.full((1, 6), 0.5), video_positions(1, 2, 3, 24.0),
               torch.randn(1, 4, width, dtype=torch.bfloat16))  # fmt: skip
    return m(v, None)


def _decoder(f):
    from ltx.vae import load_video_decoder

    return load_video_decoder(f["ckpt"])


def _ltxv_condition_nan():
    from ltx.pipelines.ltxv_conditions import LTXVCondition

    return LTXVCondition(torch.zeros(1, 3, 1, 64, 64), 0, float("nan")).check(0, 9, 1)


def _train_file(f, text):
    from ltx.train.trainer import TrainConfig

    p = f["dir"] / "t.yaml"
    p.write_text(f"checkpoint: x\ndata: y\noutput: z\n{text}\n")
    return TrainConfig.from_file(p)


def _train_config(f, **kw):
    from ltx.train.trainer import TrainConfig

    return TrainConfig(checkpoint=str(f["ckpt"]), data=str(f["dir"]), output=str(f["dir"] / "out"), **kw)


def _train(f):
    from ltx.train.trainer import train

    return train(_train_config(f), progress=False)


def test_there_are_enough_cases():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, action, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(files, capsys, name, action, error, message):
    if error == "cli":
        assert __import__("re").search(message, action(files, capsys)), name
        return
    with pytest.raises(error, match=message):
        action(files, capsys)


# -- the header fuzz ------------------------------------------------------------------------------
_VALUES = (-1, 0, 1, 7, 2**31, 2**64, -(2**40), 1.5, "F32", "x", None, True, [], [1], [0, 1], [[1]], {}, {"a": 1})


def _mutate(rng: random.Random, header: dict, body: bytes) -> bytes:
    kind = rng.randrange(5)
    raw = json.dumps(header).encode()
    if kind == 0:  # flip bytes of the header
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return struct.pack("<Q", len(b)) + bytes(b) + body
    if kind == 1:  # a wrong length field
        return struct.pack("<Q", max(0, len(raw) + rng.choice([-9, -1, 1, 7, 2**20, -len(raw)]))) + raw + body
    if kind == 2:  # an entry's field set to something else
        h = json.loads(raw)
        key = rng.choice([k for k in h if k != "__metadata__"])
        field = rng.choice(["dtype", "shape", "data_offsets", "extra"])
        h[key][field] = rng.choice(_VALUES) if field != "data_offsets" or rng.random() < 0.5 else \
            [rng.randint(-8, 80), rng.randint(-8, 80)]  # fmt: skip
        raw = json.dumps(h).encode()
        return struct.pack("<Q", len(raw)) + raw + body
    if kind == 3:  # the body cut or grown
        cut = rng.choice([-16, -1, 1, 16])
        return struct.pack("<Q", len(raw)) + raw + (body[:cut] if cut < 0 else body + bytes(cut))
    h = json.loads(raw)  # metadata of another type, or a key removed
    if rng.random() < 0.5:
        h["__metadata__"] = rng.choice(_VALUES)
    else:
        h.pop(rng.choice(list(h)))
    raw = json.dumps(h).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def test_header_fuzz_gives_only_clear_errors(files, tmp_path):
    """2,000 seeded mutations (bytes flipped, lengths changed, fields edited, the body cut or grown, metadata
    retyped): each file either opens, every tensor then read inside the file and as the header says, or is refused
    with a CheckpointError naming it; never another exception."""
    header, body = _raw(files)
    rng = random.Random(1234)
    path = tmp_path / "fuzz.safetensors"
    opened = refused = 0
    for _ in range(2000):
        path.write_bytes(_mutate(rng, header, body))
        size = path.stat().st_size
        try:
            ckpt = Checkpoint(path)
            for key, info in ckpt.tensors.items():
                assert info.start + info.nbytes <= size
                t = ckpt.tensor(key)
                assert t.dtype == info.dtype and tuple(t.shape) == info.shape and t.numel() == math.prod(info.shape)
            opened += 1
        except CheckpointError as e:
            assert str(path) in str(e)
            refused += 1
    assert opened + refused == 2000 and refused > 1000 and opened > 10


def test_newcomer_edges(files, tmp_path, capsys):
    """`ltx inspect DIR` explains a folder; every `ltx generate` option has help text."""
    import argparse

    from ltx.cli import main
    from ltx.commands import generate

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"model_type": "gemma3", "architectures": ["Gemma3ForCausalLM"]}')
    assert main(["inspect", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "a model folder: gemma3 (Gemma3ForCausalLM)" in out and "config.json" in out
    parser = argparse.ArgumentParser()
    generate.add_parser(parser.add_subparsers())
    actions = parser._subparsers._group_actions[0].choices["generate"]._actions
    assert [a.option_strings for a in actions if not a.help] == []
