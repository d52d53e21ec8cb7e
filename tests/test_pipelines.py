"""The generation pipelines against the official ltx-pipelines 1.2.0 flows, the registry, their input checks,
model lifetimes and seeds, and `ltx generate` end to end."""

import gc
import weakref
from dataclasses import replace

import pytest
import torch
from util import failed_rows, needs_1_2

from ltx import CheckpointError
from ltx.cli import main
from ltx.parity.oracle import ensure_torchaudio
from ltx.parity.pipelines import KINDS, builtin_inputs, pipeline_parity, request, run_official, run_ours
from ltx.pipelines import PIPELINES, ImageCondition, Models, Request, check_size, generator_for, run_pipeline
from ltx.pipelines import generate as pipelines

pytest.importorskip("ltx_core")
ensure_torchaudio()
pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipelines")
    return {name: builtin_inputs(folder / name, name) for name in ("ltx-2.0-tiny", "ltx-2.3-tiny")}


@pytest.mark.parametrize("kind", KINDS)
@needs_1_2
def test_pipeline_bitwise_equal_to_official_flow(inputs, kind):
    rows = pipeline_parity(inputs["ltx-2.3-tiny"], (kind,))
    assert {r.name for r in rows} >= (
        {"audio_latent", "waveform"} if kind == "t2a" else {"video_latent", "frames", "waveform"}
    )
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]


@pytest.mark.parametrize("kind", ["one-stage", "two-stage", "a2v"])
@needs_1_2
def test_pipelines_on_the_2_0_layout(inputs, kind):
    rows = pipeline_parity(inputs["ltx-2.0-tiny"], (kind,))
    assert rows and all(r.passed and r.max_abs == 0.0 for r in rows)


@needs_1_2
def test_a_different_lora_strength_is_caught(inputs):
    from ltx.parity.compare import compare_exact

    inp = inputs["ltx-2.3-tiny"]
    ours = run_ours("two-stage", replace(inp, lora_strength=0.81))
    ref = run_official("two-stage", inp)
    rows = compare_exact("two-stage", {k: v.float() for k, v in ours.items()}, {k: v.float() for k, v in ref.items()})
    assert failed_rows(rows) >= {"video_latent", "frames"}


def test_pipelines_are_deterministic_and_seeded(inputs):
    inp = inputs["ltx-2.3-tiny"]
    models = Models(inp.checkpoint, prompts=inp.prompts, device="cpu", dtype=torch.float32)
    req = replace(request("one-stage"), images=[])
    a, b = pipelines.one_stage(models, req), pipelines.one_stage(models, req)
    c = pipelines.one_stage(models, replace(req, seed=req.seed + 1))
    assert torch.equal(a.video_latent, b.video_latent) and torch.equal(a.audio, b.audio)
    assert not torch.equal(a.video_latent, c.video_latent)
    assert a.video.shape == (9, 64, 96, 3) and a.video.dtype == torch.uint8 and a.sample_rate == 48000
    # the run keeps its own stage timings
    assert [name for name, _ in a.timings] == ["generating (3 steps)", "decoding"] and a.seed == req.seed


def test_a_negative_seed_is_used_as_given_by_every_pipeline(inputs):
    """Every pipeline seeds its one generator through `generator_for`, a negative seed as it is (torch takes it
    modulo 2^64, as the official pipelines pass it): reproducible, and not a random draw."""
    inp = inputs["ltx-2.3-tiny"]
    assert torch.equal(torch.randn(4, generator=generator_for(-5, "cpu")),
                       torch.randn(4, generator=torch.Generator().manual_seed(-5)))  # fmt: skip
    models = Models(inp.checkpoint, prompts=inp.prompts, device="cpu", dtype=torch.float32)
    req = replace(request("one-stage"), images=[], seed=-5, steps=2)
    for run in (lambda: pipelines.one_stage(models, req),
                lambda: pipelines.retake(models, req, inp.video, 0.1, 0.3)):  # fmt: skip
        first, second = run(), run()
        assert first.seed == -5 and torch.equal(first.video_latent, second.video_latent)
    other = pipelines.retake(models, replace(req, seed=-6), inp.video, 0.1, 0.3)
    assert not torch.equal(other.video_latent, first.video_latent)


def test_the_registry_is_the_one_list(inputs, capsys):
    import argparse

    from ltx.commands.generate import add_parser

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    choices = next(a for a in sub.choices["generate"]._actions if a.dest == "pipeline").choices
    assert list(choices) == list(PIPELINES) and set(KINDS) == {*PIPELINES, "distilled-2.5"} - {"dub-it", "hdr", "dfr"}
    assert {name for name, p in PIPELINES.items() if p.two_stage} == {
        "two-stage", "two-stage-hq", "distilled", "keyframes", "a2v", "ic-lora", "dub-it", "dfr", "hdr"}  # fmt: skip
    inp = inputs["ltx-2.3-tiny"]
    models = Models(inp.checkpoint, prompts=inp.prompts, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="the retake pipeline needs start, end"):
        run_pipeline("retake", models, request("retake"), video=inp.video)
    with pytest.raises(ValueError, match="unknown pipeline 'nope'"):
        run_pipeline("nope", models, request("retake"))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "t2a"])
def test_each_model_is_freed_before_the_next_one_loads(inputs, kind, monkeypatch):
    """As the official pipelines free them: every video encoder is garbage by the time a transformer loads, and
    every transformer by the time the video decoder loads, so a 19B generation needs no room for two of them."""
    encoders, transformers, encoders_at_load, transformers_at_decode = [], [], [], []
    video_encoder, transformer, video_decoder = Models.video_encoder, Models.transformer, Models.video_decoder
    alive = lambda refs: (gc.collect(), sum(ref() is not None for ref in refs))[1]  # noqa: E731

    def tracked_encoder(self):
        model = video_encoder(self)
        encoders.append(weakref.ref(model))
        return model

    def tracked_transformer(self, *args, **kwargs):
        encoders_at_load.append(alive(encoders))
        model = transformer(self, *args, **kwargs)
        transformers.append(weakref.ref(model))
        return model

    def checked_decoder(self):
        transformers_at_decode.append(alive(transformers))
        return video_decoder(self)

    monkeypatch.setattr(Models, "video_encoder", tracked_encoder)
    monkeypatch.setattr(Models, "transformer", tracked_transformer)
    monkeypatch.setattr(Models, "video_decoder", checked_decoder)
    run_ours(kind, inputs["ltx-2.3-tiny"])
    assert transformers and transformers_at_decode == [0]
    assert encoders and set(encoders_at_load) == {0}


@needs_1_2
def test_auto_duration_predicts_the_frames_as_the_official(inputs, tmp_path):
    from ltx.audio.timing import audio_token_count
    from ltx.duration import DurationHeadConfig
    from ltx.parity.duration import write_tiny_duration_head
    from ltx.parity.oracle import require
    from ltx.pipelines.run import predicted_frames

    inp = inputs["ltx-2.3-tiny"]
    cfg = DurationHeadConfig(
        cross_attention_dim=40, audio_cross_attention_dim=20, pooler_hidden_dim=16, num_queries=2, mlp_hidden=12
    )  # fmt: skip  (the tiny 2.3 connectors' widths)
    head = write_tiny_duration_head(tmp_path / "head.safetensors", cfg, seed=3)
    models = Models(inp.checkpoint, prompts=inp.prompts, duration_head=head, device="cpu", dtype=torch.float32)
    official = require("ltx_pipelines.utils.blocks").DurationPredictor.from_checkpoint(
        str(head), torch.float32, torch.device("cpu")
    )
    req = replace(request("t2a"), frames=None, steps=2)
    (ctx,) = models.encode([req.prompt])
    for video, fps in ((True, 24.0), (False, 24.0), (True, 30.0)):
        got = predicted_frames(models, replace(req, fps=fps), video)
        assert got == official(ctx.video if video else None, ctx.audio, frame_rate=fps)
    frames = predicted_frames(models, req, video=False)
    result = run_pipeline("t2a", models, req)  # audio alone: the head reads the audio context alone
    assert result.video is None and result.audio_latent.shape[2] == audio_token_count(frames, req.fps)
    without = Models(inp.checkpoint, prompts=inp.prompts, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="needs the LTX-2.5 duration head"):
        run_pipeline("t2a", without, req)
    out = tmp_path / "auto.wav"  # the same from the command line
    args = ["generate", "--checkpoint", str(inp.checkpoint), "--prompts", str(inp.prompts), "--prompt", req.prompt,
            "--negative-prompt", req.negative_prompt, "--pipeline", "t2a", "--auto-duration", "--duration-head",
            str(head), "--steps", "2", "--device", "cpu", "--dtype", "float32", "--output", str(out)]  # fmt: skip
    assert main(args) == 0 and out.exists()


def test_the_diffusion_decoder_decodes_tiled_in_the_pipelines(inputs, tmp_path):
    """A DiffusionTiling reaches the decoder (one tile = untiled, bitwise; real tiles change the pixels, not the
    latent); `Tiling()` (--tiling) lets it choose for the free memory; a DiffusionTiling is refused up front for
    the conv VAE."""
    from ltx.parity.diffusion_vae_fixtures import TINY_DIFFUSION_DECODER, TINY_ENCODER_SECTION, write_tiny_diffusion_vae
    from ltx.vae import DiffusionTiling, Tiling

    inp = inputs["ltx-2.3-tiny"]
    cfg = TINY_DIFFUSION_DECODER.replace(in_channels=128)  # the tiny transformer's latent width
    encoder = {**TINY_ENCODER_SECTION, "out_channels": 128}
    vae = write_tiny_diffusion_vae(tmp_path / "dvae.safetensors", cfg, encoder=encoder, official=False)
    models = Models(inp.checkpoint, prompts=inp.prompts, video_vae=vae, device="cpu", dtype=torch.float32)
    req = replace(request("one-stage"), images=[], steps=2, height=96, width=96, frames=17)
    untiled = run_pipeline("one-stage", models, req)
    one = run_pipeline("one-stage", models, replace(req, tiling=DiffusionTiling(64, 512, 512, 8, 32)))
    auto = run_pipeline("one-stage", models, replace(req, tiling=Tiling()))
    tiled = run_pipeline("one-stage", models, replace(req, tiling=DiffusionTiling(None, 64, None, 0, 32)))
    assert torch.equal(one.video, untiled.video) and torch.equal(auto.video, untiled.video)
    assert torch.equal(tiled.video_latent, untiled.video_latent) and not torch.equal(tiled.video, untiled.video)
    conv = Models(inp.checkpoint, prompts=inp.prompts, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="a DiffusionTiling tiles LTX-2.5's diffusion decoder, but .* holds the conv"):
        run_pipeline("one-stage", conv, replace(req, tiling=DiffusionTiling(None, 64, None, 0, 32)))
    with pytest.raises(ValueError, match="tile height 60"):
        run_pipeline("one-stage", models, replace(req, tiling=DiffusionTiling(None, 60, None, 0, 32)))


# -- input checks ---------------------------------------------------------------------------------
def test_size_rules():
    check_size(512, 768, 121, 24.0, 32)
    with pytest.raises(ValueError, match="multiples of 64"):
        check_size(544, 768, 121, 24.0, 64)
    with pytest.raises(ValueError, match="use 113 or 121"):
        check_size(512, 768, 120, 24.0, 32)
    with pytest.raises(ValueError, match="fps"):
        check_size(512, 768, 121, 0.0, 32)
    with pytest.raises(ValueError, match="strength"):
        ImageCondition("x.png", 0, 1.5)


def test_pipeline_errors(inputs, tmp_path):
    inp = inputs["ltx-2.3-tiny"]
    req = request("two-stage")
    with pytest.raises(ValueError, match="Gemma-3 folder"):
        Models(inp.checkpoint)
    with pytest.raises(CheckpointError, match="holds a latent upsampler file .*; this slot expects a transformer file"):
        Models(inp.upsampler, prompts=inp.prompts)  # a file for another slot, named before any work
    with pytest.raises(CheckpointError, match="this slot expects a video VAE file"):
        Models(inp.checkpoint, prompts=inp.prompts, video_vae=inp.upsampler)
    bare = Models(inp.checkpoint, prompts=inp.prompts, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="upsampler"):
        pipelines.two_stage(bare, replace(req, images=[]))
    with pytest.raises(ValueError, match="upsampler"):
        pipelines.distilled(bare, replace(req, images=[]))
    with pytest.raises(ValueError, match="has no embeddings for the prompt 'another'"):
        pipelines.one_stage(bare, replace(request("one-stage"), prompt="another", images=[]))
    with pytest.raises(ValueError, match="past the clip"):
        pipelines.one_stage(bare, replace(request("one-stage"), images=[ImageCondition(inp.image, 9, 1.0)]))
    with pytest.raises(FileNotFoundError, match="no such image"):
        pipelines.one_stage(bare, replace(request("one-stage"), images=[ImageCondition(tmp_path / "no.png")]))
    models = Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="distilled LoRA"):
        pipelines.two_stage(models, replace(req, images=[]))
    with pytest.raises(ValueError, match="distilled LoRA"):
        pipelines.two_stage_hq(models, replace(req, images=[]))
    models = Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, device="cpu", dtype=torch.float32,
                    distilled_lora=(inp.distilled_lora, 1.0))  # fmt: skip
    with pytest.raises(ValueError, match="the audio gives 0.12 s but the clip is 2.04 s"):
        pipelines.audio_to_video(models, replace(req, frames=49, fps=24.0, images=[]), inp.audio, start=0.9)
    with pytest.raises(ValueError, match="start"):
        pipelines.retake(models, req, inp.video, 0.3, 0.1)
    with pytest.raises(CheckpointError, match="LoRA layers match no layer"):
        Models(inputs["ltx-2.0-tiny"].checkpoint, prompts=inp.prompts, loras=[(inp.ic_lora, 1.0)])


@needs_1_2
def test_lora_fusion_equals_official_apply_loras(inputs):
    from ltx.checkpoint import Checkpoint
    from ltx.dit import load_transformer
    from ltx.lora import fuse_loras, load_lora
    from ltx.parity.oracle import require

    inp = inputs["ltx-2.3-tiny"]
    fuse = require("ltx_core.loader.fuse_loras")
    prims = require("ltx_core.loader.primitives")
    ckpt = Checkpoint(inp.checkpoint)
    prefix = "model.diffusion_model."
    sd = {k[len(prefix) :]: ckpt.tensor(k).clone() for k in ckpt.components["transformer"]}
    loras = [(inp.distilled_lora, 0.7), (inp.ic_lora, -0.4)]
    lora_sds = []
    for path, strength in loras:
        lc = Checkpoint(path)
        lsd = {k.removeprefix("diffusion_model."): lc.tensor(k).clone() for k in lc.tensors}
        lora_sds.append(prims.LoraStateDictWithStrength(prims.StateDict(lsd, torch.device("cpu"), 0, set()), strength))
    ref = fuse.apply_loras(prims.StateDict(sd, torch.device("cpu"), 0, set()), lora_sds).sd  # bf16 rule
    model = load_transformer(inp.checkpoint, dtype=torch.bfloat16)
    names = {n[: -len(".weight")]: n[: -len(".weight")] for n, _ in model.named_parameters() if n.endswith(".weight")}
    fused = fuse_loras(model, [load_lora(p, s) for p, s in loras], names)
    assert fused and all(torch.equal(model.state_dict()[k], ref[k]) for k in ref), "fused weights differ"


def test_text_side_loras_are_fused_not_dropped(inputs, tmp_path):
    from safetensors.torch import save_file

    from ltx.lora import fuse_loras, load_lora
    from ltx.text.processor import load_text_processor

    inp = inputs["ltx-2.3-tiny"]
    layer = "video_embeddings_connector.transformer_1d_blocks.0.ff.net.2"
    path = tmp_path / "text-lora.safetensors"
    pair = {"lora_A": torch.ones(1, 160, dtype=torch.bfloat16), "lora_B": torch.ones(40, 1, dtype=torch.bfloat16)}
    save_file({f"diffusion_model.{layer}.{k}.weight": v for k, v in pair.items()}, str(path))
    processor = load_text_processor(inp.checkpoint, gemma_hidden=24, gemma_layers=3)
    before = processor.get_submodule(layer).weight.clone()
    Models(inp.checkpoint, prompts=inp.prompts, loras=[(path, 0.5)])  # accepted: the layer is on the text side
    assert fuse_loras(processor, [load_lora(path, 0.5)], {layer: layer}) == {layer}
    torch.testing.assert_close(processor.get_submodule(layer).weight, before + 0.5)


def test_fp8_cast_lora_fusion_rounds_back_to_fp8(tiny, tmp_path):
    from ltx.dit import load_transformer
    from ltx.lora import fuse_loras, load_lora
    from ltx.parity.pipeline_fixtures import write_tiny_lora

    path = tiny["ltx-2.0-fp8-cast-tiny"]
    lora = load_lora(write_tiny_lora(path, tmp_path / "l.safetensors", seed=3, every=1), 1.0)
    model = load_transformer(path, dtype=torch.bfloat16)
    name = "transformer_blocks.0.attn1.to_q"
    w = model.get_submodule(name).weight.clone()
    fuse_loras(model, [lora], {name: name})
    a, b = lora.pairs[name]
    expected = (torch.matmul(b * 1.0, a).to(torch.bfloat16) + w.to(torch.bfloat16)).to(torch.float8_e4m3fn)
    assert model.get_submodule(name).weight.dtype == torch.float8_e4m3fn
    assert torch.equal(model.get_submodule(name).weight.float(), expected.float())


# -- the command ----------------------------------------------------------------------------------
def test_generate_writes_an_mp4_with_audio(tiny, tiny_gemma, inputs, tmp_path, capsys):
    from ltx.media import read_audio, read_video, video_info

    out = tmp_path / "out.mp4"
    args = ["generate", "--checkpoint", str(tiny["ltx-2.3-tiny"]), "--gemma", str(tiny_gemma), "--prompt", "a cat",
            "--height", "64", "--width", "96", "--frames", "17", "--fps", "25", "--steps", "3", "--stg-blocks", "1",
            "--image", f"{inputs['ltx-2.3-tiny'].image}@0:0.9", "--device", "cpu", "--dtype", "float32",
            "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    fps, frames, width, height = video_info(out)
    assert (fps, frames, width, height) == (25.0, 17, 96, 64)
    assert read_video(out).shape == (17, 64, 96, 3)
    waveform, rate = read_audio(out)
    expected = round(17 / 25 * 25) * 4 - 3  # audio tokens -> mel frames
    assert rate == 48000 and waveform.shape[0] == 2
    assert abs(waveform.shape[1] - expected * 480) <= 2048  # AAC pads to whole 1024-sample frames


def test_generate_from_a_prompt_file_and_argument_errors(inputs, tmp_path, capsys):
    inp = inputs["ltx-2.0-tiny"]
    out = tmp_path / "o.mp4"
    base = ["generate", "--checkpoint", str(inp.checkpoint), "--prompts", str(inp.prompts), "--device", "cpu",
            "--dtype", "float32", "--output", str(out)]  # fmt: skip
    small = ["--height", "64", "--width", "64", "--frames", "9", "--steps", "2", "--stg-blocks", "1"]
    assert main(base + small + ["--prompt", "a prompt", "--negative-prompt", "a negative prompt"]) == 0
    assert main(base + small + ["--prompt", "a prompt", "--pipeline", "a2v"]) == 2
    assert "needs --audio" in capsys.readouterr().err
    assert main(base + small + ["--prompt", "a prompt", "--pipeline", "retake", "--video", str(inp.video)]) == 2
    assert "needs --start SECONDS and --end SECONDS" in capsys.readouterr().err
    assert main(base + small[:4] + ["--frames", "10", "--prompt", "a prompt"]) == 2
    assert "frames must be 1 + 8k" in capsys.readouterr().err
    assert main(base + small + ["--prompt", "a prompt", "--pipeline", "t2a"]) == 2  # t2a writes a .wav
    assert ".wav" in capsys.readouterr().err
    assert main(base + small + ["--prompt", "a prompt", "--pipeline", "hdr", "--video", str(inp.video)]) == 2
    assert "EXR frames into the folder" in capsys.readouterr().err
    wav = base[:-1] + [str(tmp_path / "o.wav")]
    assert (
        main(wav + small + ["--prompt", "a prompt", "--negative-prompt", "a negative prompt", "--pipeline", "t2a"]) == 0
    )
    assert "wrote" in capsys.readouterr().out and (tmp_path / "o.wav").stat().st_size > 1000
    with pytest.raises(ValueError, match="1 \\+ 8k"):
        pipelines.one_stage(Models(inp.checkpoint, prompts=inp.prompts, device="cpu"), Request("a prompt", frames=10))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "t2a"])
@needs_1_2
def test_pipelines_in_bf16_bitwise_equal_to_official_flow(inputs, kind):
    """bf16 as the GPU runs it: the same tokens in the same memory layouts as the official flow (fresh tokens
    contiguous, a given latent's a view, the guided passes' copied), the same float32 mel front-end: bitwise.
    (The 2.0 layout: ltx-core 1.2.0's 2.3 vocoder cannot run bf16 on the CPU; t2a is a 2.3 model.)"""
    inp = inputs["ltx-2.0-tiny"]
    ours, ref = run_ours(kind, inp, torch.bfloat16), run_official(kind, inp, torch.bfloat16)
    assert set(ours) == set(ref) >= {"video_latent", "audio_latent", "frames", "waveform"}
    assert all(ours[k].dtype == ref[k].dtype and torch.equal(ours[k], ref[k]) for k in ref), {
        k: float((ours[k].float() - ref[k].float()).abs().max()) for k in ref
    }


@pytest.mark.parametrize("kind", ["one-stage", "retake", "ic-lora", "t2a"])
def test_2_3_pipelines_in_bf16_bitwise_equal_to_official_flow(inputs, kind, monkeypatch):
    """The same on the 2.3 layout, latents and frames (ltx-core 1.2.0's 2.3 vocoder cannot run bf16 on the CPU: its
    audio decoder is left out of the official side, the waveforms are not compared)."""
    import types

    blocks = pytest.importorskip("ltx_pipelines.utils.blocks")

    class NoAudio:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, latent, *args, **kwargs):
            return types.SimpleNamespace(waveform=torch.zeros(2, 1))

    monkeypatch.setattr(blocks, "AudioDecoder", NoAudio)
    inp = inputs["ltx-2.3-tiny"]
    ours, ref = run_ours(kind, inp, torch.bfloat16), run_official(kind, inp, torch.bfloat16)
    keys = {"video_latent", "audio_latent", "frames"} & set(ref)
    assert keys >= {"audio_latent"} and all(torch.equal(ours[k], ref[k]) for k in keys), {
        k: float((ours[k].float() - ref[k].float()).abs().max()) for k in keys
    }


def _layouts(run, kind: str, inp):
    from ltx.parity.layouts import record_run

    return record_run(lambda: run(kind, inp, torch.bfloat16))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "t2a"])
@needs_1_2
def test_each_layout_sensitive_op_sees_the_official_layouts(inputs, kind):
    """The GPU picks a convolution's, a matrix product's, an attention's, a norm's or a reduction's kernel by its
    operands' strides, where the CPU's bitwise comparison may not care: every such call of ours (bf16, exact ops,
    the 2.0 layout as the 19B bench runs it) sees the layouts the official flow's calls see."""
    from ltx.parity.layouts import layout_differences

    assert layout_differences(run_ours, run_official, kind, inputs["ltx-2.0-tiny"], torch.bfloat16) == []


@needs_1_2
def test_a_layout_the_official_does_not_use_is_caught(inputs, monkeypatch):
    """A conditioning image resized channels-last, latents unpatchified with another batch stride (as ours were)."""
    import ltx.media
    import ltx.sampling.state
    from ltx.parity.layouts import differences

    inp = inputs["ltx-2.0-tiny"]
    official = _layouts(run_official, "two-stage", inp)
    channels_last = lambda f: f.unsqueeze(0).permute(0, 3, 1, 2) if f.ndim == 3 else f.permute(0, 3, 1, 2)  # noqa: E731
    monkeypatch.setattr(ltx.media, "official_layout_nchw", channels_last)
    assert [d.split(" ")[0] for d in differences(_layouts(run_ours, "two-stage", inp), official)] == [
        "upsample_bilinear2d"
    ]
    monkeypatch.undo()
    plain = lambda t, f, h, w: t.unflatten(1, (f, h, w)).permute(0, 4, 1, 2, 3)  # noqa: E731
    monkeypatch.setattr(ltx.sampling.state, "unpatchify_video", plain)
    assert {"conv3d", "group_norm"} <= {
        d.split(" ")[0] for d in differences(_layouts(run_ours, "two-stage", inp), official)
    }
