"""Training (ltx.train): one LoRA step and one IC-LoRA step against ltx-trainer 1.2.0 (the oracle: its strategies,
sampler and peft's LoRA on ltx-core's model), the sigma sampler, LoRA files that our pipelines and ltx-core's names
take, a tiny run that learns, a crash resumed exactly, and bad input named before the first step."""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file
from util import failed_rows, needs_1_2

from ltx.train.activations import HostActivations
from ltx.train.flow import SigmaSampler
from ltx.train.lora import add_lora, load_lora_weights, lora_state


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("ltx_core", reason="the tiny checkpoint is written from the official modules")
    from ltx.parity.fixtures import write_tiny_checkpoint
    from ltx.parity.pipeline_fixtures import write_prompt_file, write_tiny_dataset

    folder = tmp_path_factory.mktemp("train")
    ckpt = write_tiny_checkpoint("ltx-2.3-tiny", folder / "tiny.safetensors")
    data = write_tiny_dataset(ckpt, folder / "data", height=4, width=6)
    prompts = write_prompt_file(ckpt, folder / "prompts.safetensors", ["a prompt", "a negative prompt"], 0)
    return {"checkpoint": ckpt, "data": data, "prompts": prompts, "folder": folder}


def _trainer_oracle():
    pytest.importorskip("ltx_trainer", reason="ltx-trainer 1.2.0 is the oracle (scripts/install.sh)")
    pytest.importorskip("peft", reason="ltx-trainer's LoRA layers are peft's")


@pytest.mark.oracle
def test_lora_step_matches_ltx_trainer(tiny):
    """Text-to-video with audio and first-frame conditioning: the per-sample loss is bitwise ltx-trainer's; the
    LoRA gradients agree to ~1e-6 (relative): the audio <-> video cross-attention's backward sums in another order
    than ltx-core's (the IC-LoRA step below, video alone, is bitwise in every tensor); AdamW's first step divides
    each gradient by its size, so where one is near its eps the weights after it agree to <= 1e-4."""
    _trainer_oracle()
    from ltx.parity.train import train_step_parity

    rows = train_step_parity(tiny["checkpoint"])
    assert len(rows) == 1 + 2 * 144 and not failed_rows(rows)
    by = {r.name: r for r in rows}
    assert by["loss"].max_abs == 0.0
    assert max(r.rel for r in rows if r.name.startswith("grad/")) <= 2e-6  # (4e-7 .. 1.0e-6 over six seeds)
    assert max(r.rel for r in rows if r.name.startswith("after/")) <= 1e-4


@pytest.mark.oracle
def test_ic_lora_step_matches_ltx_trainer_bitwise(tiny):
    """IC-LoRA (ltx-trainer's video-to-video strategy): half-size reference latents before the clip at timestep 0,
    their positions scaled x2, out of the loss: loss, every gradient and every updated weight bitwise."""
    _trainer_oracle()
    from ltx.parity.train import train_step_parity

    rows = train_step_parity(tiny["checkpoint"], ic=True)
    assert rows and all(r.max_abs == 0.0 for r in rows), [r.name for r in rows if r.max_abs][:5]


@pytest.mark.oracle
def test_a_wrong_learning_rate_is_caught(tiny):
    _trainer_oracle()
    from ltx.parity.train import train_step_parity

    rows = train_step_parity(tiny["checkpoint"], ic=True, ours_lr=2e-3)
    failed = failed_rows(rows)
    assert failed and all(name.startswith("after/") for name in failed)


@pytest.mark.oracle
@pytest.mark.parametrize("tokens", [18, 1024, 6144, 24576])
def test_sigma_sampler_is_ltx_trainers(tokens):
    _trainer_oracle()
    from ltx_trainer.timestep_samplers import ShiftedLogitNormalTimestepSampler

    torch.manual_seed(tokens)
    want = ShiftedLogitNormalTimestepSampler().sample(4096, tokens)
    torch.manual_seed(tokens)
    assert torch.equal(SigmaSampler().sample(4096, tokens), want)
    g = torch.Generator().manual_seed(1)
    s = SigmaSampler("uniform", low=0.2, high=0.4).sample(1000, tokens, g)
    assert 0.2 <= s.min() and s.max() < 0.4


def test_lora_adapters_and_their_files(tmp_path):
    """Targets by name suffix (peft's rule); zero-B start changes nothing; ComfyUI keys with B times alpha / rank;
    a file that does not fit is named."""
    from ltx.testing import build_components

    def tiny_transformer():
        return build_components("ltx-2.3-tiny")["transformer"]

    model = tiny_transformer()
    x = torch.randn(2, 5, model.cfg.inner_dim)
    attn = model.transformer_blocks[0].attn1
    before = attn.to_q(x)
    adapters = add_lora(model, rank=2, alpha=4)
    assert "transformer_blocks.0.attn1.to_out.0" in adapters and not any(
        p.requires_grad for p in attn.to_q.base.parameters()
    )
    assert torch.equal(attn.to_q(x), before)
    with torch.no_grad():
        attn.to_q.lora_B.weight.fill_(0.1)
    state = lora_state(adapters, torch.float32)
    key = "diffusion_model.transformer_blocks.0.attn1.to_q"
    assert torch.allclose(state[key + ".lora_B.weight"], attn.to_q.lora_B.weight * 2)  # alpha / rank = 2
    fresh = add_lora(tiny_transformer(), rank=2, alpha=4)
    load_lora_weights(fresh, state)
    assert torch.equal(fresh["transformer_blocks.0.attn1.to_q"].lora_B.weight, attn.to_q.lora_B.weight)
    with pytest.raises(ValueError, match="does not fit these LoRA adapters"):
        load_lora_weights(add_lora(tiny_transformer(), rank=3, alpha=4), state)
    with pytest.raises(ValueError, match=r"LoRA targets \['nothing'\] match no linear of the model"):
        add_lora(tiny_transformer(), targets=("nothing",))


def _config(tiny, tmp_path, **changes):
    from ltx.train.trainer import TrainConfig

    base = dict(checkpoint=str(tiny["checkpoint"]), data=str(tiny["data"]), output=str(tmp_path / "out"),
                with_audio=True, rank=4, alpha=4, steps=8, learning_rate=2e-3, checkpoint_every=3, dtype="float32",
                device="cpu", first_frame_p=0.0)  # fmt: skip
    return TrainConfig(**{**base, **changes})


@pytest.mark.oracle
@needs_1_2
def test_a_tiny_run_learns_and_its_lora_loads(tiny, tmp_path):
    """On two clips the loss at a fixed sigma and noise falls after training; the file holds ComfyUI keys that name
    ltx-core's modules; our pipelines fuse it and it changes their output."""
    from ltx.dit import load_transformer
    from ltx.parity.oracle import OfficialTransformer
    from ltx.pipelines import Models
    from ltx.train.flow import loss, prepare
    from ltx.train.trainer import Dataset, train

    cfg = _config(tiny, tmp_path, steps=25, checkpoint_every=100)
    lora = train(cfg, progress=False)
    data = Dataset.open(tiny["data"], ("conditions", "audio_latents"))

    def fixed_loss(model) -> float:
        from ltx.text.processor import load_connectors

        proc = load_connectors(tiny["checkpoint"])
        total = 0.0
        for i in range(len(data.files)):
            s = data.load(i)
            c = s["conditions"]
            text = proc.connect(c["video_prompt_embeds"][None], c["audio_prompt_embeds"][None],
                                c["prompt_attention_mask"][None])  # fmt: skip
            p = prepare(s["latents"]["latents"][None], text.video, context_mask=text.mask,
                        audio_latent=s["audio_latents"]["latents"][None], audio_context=text.audio,
                        sampler=SigmaSampler("uniform", low=0.5, high=0.5), first_frame_p=0.0,
                        generator=torch.Generator().manual_seed(i))  # fmt: skip
            with torch.no_grad():
                total += loss(*model(p.video, p.audio), p).item()
        return total

    base = load_transformer(tiny["checkpoint"], dtype=torch.float32)
    trained = load_transformer(tiny["checkpoint"], dtype=torch.float32)
    load_lora_weights(add_lora(trained, 4, 4), load_file(lora))
    assert fixed_loss(trained) < 0.9 * fixed_loss(base)
    layers = {k.removeprefix("diffusion_model.").rsplit(".lora_", 1)[0] for k in load_file(lora)}
    official = OfficialTransformer(tiny["checkpoint"], torch.device("cpu"), torch.float32, True).model
    assert layers <= {name for name, _ in official.named_modules()}
    plain = Models(tiny["checkpoint"], prompts=tiny["prompts"], device="cpu", dtype=torch.float32).transformer()
    fused = Models(tiny["checkpoint"], prompts=tiny["prompts"], device="cpu", dtype=torch.float32,
                   loras=[(lora, 1.0)]).transformer()  # fmt: skip
    name = "transformer_blocks.1.attn1.to_q.weight"
    assert not torch.equal(plain.state_dict()[name], fused.state_dict()[name])


@pytest.mark.oracle
def test_a_crashed_run_resumes_exactly(tiny, tmp_path):
    """Killed after step 4 (states at 3 and 6): the rerun resumes at step 3 and ends on the LoRA of an unbroken
    run, bitwise (optimizer, schedule and generators restored)."""
    from ltx.train.trainer import train

    whole = train(_config(tiny, tmp_path / "whole"), progress=False)

    def crash(step, _):
        if step == 4:
            raise KeyboardInterrupt

    cfg = _config(tiny, tmp_path / "broken")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=False, on_step=crash)
    steps = []
    resumed = train(cfg, progress=False, on_step=lambda s, _: steps.append(s))
    assert steps[0] == 4 and steps[-1] == 8
    a, b = load_file(whole), load_file(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="saved by a run of another config"):
        train(dataclasses.replace(cfg, rank=8), progress=False)


@pytest.mark.oracle
def test_bad_training_input_is_named_before_the_first_step(tiny, tmp_path):
    import shutil

    from ltx.train.trainer import TrainConfig, train

    data = tmp_path / "data"
    shutil.copytree(tiny["data"], data)
    (data / "conditions" / "clip_001.pt").unlink()
    with pytest.raises(ValueError, match=r"1 files missing .* conditions/clip_001.pt"):
        train(_config(tiny, tmp_path, data=str(data)), progress=False)
    (data / "conditions" / "clip_001.pt").write_bytes((tiny["data"] / "conditions" / "clip_001.pt").read_bytes())
    torch.save({"latents": torch.zeros(64, 2, 4, 6)}, data / "latents" / "clip_001.pt")
    with pytest.raises(ValueError, match="clip_001.pt: latents have 64 channels, the model 128"):
        train(_config(tiny, tmp_path, data=str(data)), progress=False)
    with pytest.raises(FileNotFoundError, match="no latents/ folder"):
        train(_config(tiny, tmp_path, data=str(tmp_path)), progress=False)
    for changes, message in (({"rank": 0}, "rank must be a whole number"), ({"mode": "fully"}, "mode must be"),
                             ({"learning_rate": float("nan")}, "learning_rate must be a positive number"),
                             ({"mode": "ic-lora"}, "ic-lora trains the video alone")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            _config(tiny, tmp_path, **changes)
    config = tmp_path / "c.yaml"
    config.write_text("checkpoint: x\ndata: y\noutput: z\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown settings \['learning_rat'\]"):
        TrainConfig.from_file(config)
    with pytest.raises(ValueError, match="match no linear"):
        train(_config(tiny, tmp_path, targets=("to_nothing",)), progress=False)


@pytest.mark.oracle
def test_train_command(tiny, tmp_path, capsys):
    from ltx.cli import main

    config = tmp_path / "run.toml"
    config.write_text(f'checkpoint = "{tiny["checkpoint"]}"\ndata = "{tiny["data"]}"\noutput = "{tmp_path / "o"}"\n'
                      'rank = 2\nalpha = 2\nsteps = 2\ndtype = "float32"\nwith_audio = true\n')  # fmt: skip
    assert main(["train", str(config), "--device", "cpu"]) == 0
    assert "lora_step_00002.safetensors" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "no such training config" in capsys.readouterr().err


@pytest.mark.oracle
def test_preprocess_writes_what_ltx_trainer_reads_and_we_train_on_it(tiny, tiny_gemma, tmp_path, capsys):
    """`ltx preprocess` on two captioned clips: the folder loads in ltx-trainer's PrecomputedDataset and its
    text-to-video strategy prepares a batch from it; `ltx train` trains on it; existing outputs are kept."""
    _trainer_oracle()
    import json

    from ltx.cli import main
    from ltx.parity.pipeline_fixtures import write_test_video
    from ltx.train.trainer import train

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        write_test_video(clips / name, 12, 80, 112, 24.0)
    (clips / "dataset.json").write_text(json.dumps([{"caption": "a red ball", "media_path": "a.mp4"},
                                                    {"caption": "a blue cube", "media_path": "b.mp4"}]))  # fmt: skip
    out = tmp_path / "pre"
    args = [
        "preprocess",
        str(clips / "dataset.json"),
        "--output",
        str(out),
        "--checkpoint",
        str(tiny["checkpoint"]),
        "--gemma",
        str(tiny_gemma),
        "--size",
        "9x64x96",
        "--with-audio",
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]
    assert main(args) == 0, capsys.readouterr().err
    item = torch.load(out / "latents" / "a.pt", weights_only=True)
    assert item["latents"].shape == (128, 2, 2, 3) and (item["num_frames"], item["height"], item["width"]) == (2, 2, 3)
    from ltx_trainer.datasets import PrecomputedDataset
    from ltx_trainer.timestep_samplers import ShiftedLogitNormalTimestepSampler
    from ltx_trainer.training_strategies.text_to_video import TextToVideoConfig, TextToVideoStrategy

    theirs = PrecomputedDataset(str(out), {"latents": "latents", "conditions": "conditions",
                                           "audio_latents": "audio_latents"})  # fmt: skip
    sample = theirs[0]
    batch = torch.utils.data.default_collate([sample])
    inputs = TextToVideoStrategy(TextToVideoConfig(with_audio=True)).prepare_training_inputs(
        batch, ShiftedLogitNormalTimestepSampler()
    )
    assert inputs.video.latent.shape == (1, 12, 128) and inputs.audio.latent.shape[-1] == 128
    mtime = (out / "latents" / "a.pt").stat().st_mtime_ns
    assert main(args) == 0 and (out / "latents" / "a.pt").stat().st_mtime_ns == mtime  # kept
    lora = train(_config(tiny, tmp_path, data=str(out), steps=2), progress=False)
    assert lora.is_file()
    (clips / "dataset.json").write_text(json.dumps([{"caption": "x", "media_path": "missing.mp4"}]))
    assert main([*args, "--overwrite"]) == 2 and "missing.mp4 does not exist" in capsys.readouterr().err


@pytest.mark.oracle
def test_full_fine_tune_of_chosen_blocks(tiny, tmp_path):
    """mode full: only train_blocks change; their weights are saved under the checkpoint's keys and resume."""
    from ltx.checkpoint import Checkpoint
    from ltx.train.trainer import train

    cfg = _config(tiny, tmp_path, mode="full", train_blocks=(1,), steps=3, checkpoint_every=2, learning_rate=1e-3)
    path = train(cfg, progress=False)
    saved = load_file(path)
    assert saved and all(k.startswith("model.diffusion_model.transformer_blocks.1.") for k in saved)
    original = Checkpoint(tiny["checkpoint"])
    assert any(not torch.equal(v, original.tensor(k).float()) for k, v in saved.items())
    assert set(saved) == {k for k in original.tensors if k.startswith("model.diffusion_model.transformer_blocks.1.")}
    with pytest.raises(ValueError, match="outside the transformer's 3 blocks"):
        train(_config(tiny, tmp_path / "x", mode="full", train_blocks=(7,)), progress=False)
    with pytest.raises(ValueError, match="full fine-tuning trains float32 weights"):
        _config(tiny, tmp_path, mode="full", dtype="bfloat16")


@pytest.mark.oracle
def test_validation_samples_come_from_the_model_in_training(tiny, tmp_path):
    """Every validation_every steps an MP4 of the validation prompt, made by our one-stage pipeline with the
    adapters as they are at that step."""
    from ltx.media import video_info
    from ltx.train.trainer import train

    cfg = _config(tiny, tmp_path, steps=2, validation_every=2, validation_prompts=str(tiny["prompts"]),
                  validation_prompt="a prompt", validation_negative_prompt="a negative prompt",
                  validation_size=(9, 64, 96), validation_steps=2)  # fmt: skip
    train(cfg, progress=False)
    sample = tmp_path / "out" / "samples" / "step_00002.mp4"
    assert video_info(sample)[1:] == (9, 96, 64)
    with pytest.raises(ValueError, match="validation_every needs validation_prompts"):
        _config(tiny, tmp_path, validation_every=2)


@pytest.mark.oracle
def test_flexible_modes_match_ltx_trainer_bitwise(tiny):
    """ltx-trainer's flexible strategy: audio-to-video, video-to-audio, extension (a held prefix / suffix on video,
    a prefix on audio, drawn per sample) and in/outpainting (a mask and a pixel box): every prepared tensor and the
    loss through the model bitwise."""
    _trainer_oracle()
    from ltx.parity.train import FLEXIBLE_CASES, flexible_parity

    rows = flexible_parity(tiny["checkpoint"])
    assert {r.name.split("/")[0] for r in rows} == set(FLEXIBLE_CASES) and len(rows) == 35
    assert all(r.max_abs == 0.0 for r in rows), [r.name for r in rows if r.max_abs]
    wrong = failed_rows(flexible_parity(tiny["checkpoint"], ("extend",), ours_seed=5))  # another draw: caught
    assert {"extend/loss", "extend/video.latent", "extend/audio.sigma"} <= wrong


@pytest.mark.oracle
def test_flexible_training_runs(tiny, tmp_path):
    """a2v and inpainting (masks/ beside the data) train from the config's video / audio roles."""
    import shutil

    from ltx.train.trainer import train

    a2v = _config(tiny, tmp_path / "a2v", mode="flexible", with_audio=False, steps=2,
                  video={"generated": True, "regions": [{"kind": "first_frame", "probability": 0.5}]},
                  audio={"generated": False})  # fmt: skip
    assert train(a2v, progress=False).is_file()
    data = tmp_path / "data"
    shutil.copytree(tiny["data"], data)
    (data / "masks").mkdir()
    for f in (data / "latents").glob("*.pt"):
        lat = torch.load(f, weights_only=True)["latents"]
        torch.save({"mask": (torch.arange(lat[0].numel()) % 3 == 0).float()}, data / "masks" / f.name)
    inpaint = _config(tiny, tmp_path / "inpaint", data=str(data), mode="flexible", with_audio=False, steps=2,
                      video={"generated": True, "regions": [{"kind": "mask"}]})  # fmt: skip
    assert train(inpaint, progress=False).is_file()
    for changes, message in (({"video": {"generated": False}}, "at least one of video / audio must be generated"),
                             ({"video": {"generated": True, "regions": [{"kind": "blur"}]}}, "kind must be one of"),
                             ({"video": {"regions": []}}, "a modality is")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            _config(tiny, tmp_path, mode="flexible", with_audio=False, **changes)
    with pytest.raises(ValueError, match="set mode: flexible"):
        _config(tiny, tmp_path, video={"generated": True})


@pytest.mark.oracle
def test_bf16_lora_is_pefts_under_the_trainers_autocast():
    """In bf16 our adapters compute what peft's compute under ltx-trainer's bf16 autocast (matmuls in bf16, float32
    master weights), forward and the gradients of A and B; in float32 what peft computes without autocast."""
    peft = pytest.importorskip("peft", reason="peft is the oracle for the LoRA layer")
    from torch import nn

    from ltx.train.lora import LoRALinear

    g = torch.Generator().manual_seed(0)
    for dtype in (torch.bfloat16, torch.float32):
        base = nn.Linear(64, 48).to(dtype)
        ours = LoRALinear(base, 8, 16, generator=g)
        with torch.no_grad():
            ours.lora_B.weight.normal_(generator=g)
        theirs = peft.get_peft_model(nn.Sequential(base), peft.LoraConfig(r=8, lora_alpha=16, target_modules=["0"]))
        layer = theirs.base_model.model[0]
        with torch.no_grad():
            layer.lora_A["default"].weight.copy_(ours.lora_A.weight)
            layer.lora_B["default"].weight.copy_(ours.lora_B.weight)
        x = torch.randn(2, 5, 64, generator=g).to(dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            want = theirs(x)
        got = ours(x)
        assert got.dtype == want.dtype == dtype and torch.equal(got, want)
        got.float().square().sum().backward()
        want.float().square().sum().backward()
        for name in ("lora_A", "lora_B"):
            mine, ref = getattr(ours, name).weight.grad, getattr(layer, name)["default"].weight.grad
            assert mine.dtype == ref.dtype == torch.float32 and torch.allclose(mine, ref, rtol=1e-5, atol=1e-6), name


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["lora", "ic-lora"])
def test_a_bf16_run_trains(tiny, tmp_path, mode):
    """bf16 weights and latents (the GPU setting): the noised latents reach the model in bf16 (noised in float32
    with the float32 sigma, as ltx-trainer's autocast rounds them), the loss is finite and the LoRA moves."""
    from ltx.train.trainer import train

    losses = []
    cfg = _config(tiny, tmp_path, dtype="bfloat16", steps=3, checkpoint_every=100, mode=mode,
                  with_audio=mode == "lora")  # fmt: skip
    lora = train(cfg, progress=False, on_step=lambda step, value: losses.append(value))
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert any(v.abs().sum() > 0 for k, v in load_file(lora).items() if ".lora_B." in k)


@pytest.mark.oracle
def test_adamw8bit_is_bitsandbytes(tiny, tmp_path, monkeypatch):
    """optimizer: adamw8bit takes bitsandbytes' AdamW8bit (ltx-trainer's), named up front when it is missing; a
    state saved with one optimizer does not resume with the other."""
    import importlib.machinery
    import importlib.util
    import sys
    import types

    from ltx.train.trainer import train

    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(ValueError, match="pip install bitsandbytes"):
            _config(tiny, tmp_path, optimizer="adamw8bit")
    made = []

    class AdamW8bit(torch.optim.AdamW):  # a stand-in: what the trainer builds and steps
        def __init__(self, params, lr):
            made.append(lr)
            super().__init__(params, lr=lr)

    fake, optim = types.ModuleType("bitsandbytes"), types.ModuleType("bitsandbytes.optim")
    fake.__spec__ = importlib.machinery.ModuleSpec("bitsandbytes", None)
    optim.AdamW8bit, fake.optim = AdamW8bit, optim
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    monkeypatch.setitem(sys.modules, "bitsandbytes.optim", optim)
    cfg = _config(tiny, tmp_path, optimizer="adamw8bit", steps=2, checkpoint_every=1)
    train(cfg, progress=False)
    assert made == [cfg.learning_rate]
    assert cfg.fingerprint() != _config(tiny, tmp_path).fingerprint()
    with pytest.raises(ValueError, match="saved by a run of another config"):
        train(_config(tiny, tmp_path, steps=3), progress=False)


@pytest.mark.oracle
def test_compiled_training_trains_as_eager(tiny, tmp_path, monkeypatch):
    """compile: true (every block compiled forward and backward, the kernels' reference ops) ends on the eager run's
    LoRA bitwise, with checkpointing on. Traced by AOTAutograd without inductor's code generation (aot_eager:
    seconds, where inductor's C++ build takes two minutes on a CI machine; the same graphs, fwd and bwd)."""
    import ltx.runtime
    from ltx.train.trainer import train

    compile_blocks = ltx.runtime.compile_blocks
    monkeypatch.setattr(ltx.runtime, "compile_blocks", lambda m, **k: compile_blocks(m, backend="aot_eager", **k))

    from torch._dynamo.utils import counters

    eager = load_file(train(_config(tiny, tmp_path / "eager", steps=3, checkpoint_every=100), progress=False))
    counters.clear()
    compiled = load_file(train(_config(tiny, tmp_path / "compiled", steps=3, checkpoint_every=100, compile=True),
                               progress=False))  # fmt: skip
    assert eager.keys() == compiled.keys()
    worst = max(float((compiled[k].float() - eager[k].float()).norm() / eager[k].float().norm()) for k in eager)
    assert worst == 0.0, worst  # (aot_eager runs the traced graphs as torch ops: bitwise here)
    assert counters["stats"]["unique_graphs"] >= 1  # (it did compile)
    assert any(v.abs().sum() > 0 for k, v in compiled.items() if ".lora_B." in k)


def _offload_step(device, saving, dtype=torch.float32):
    """One LoRA step's loss and LoRA gradients on the tiny transformer (checkpointed blocks) under `saving`."""
    from ltx.bench.train import _prepared, batch
    from ltx.testing import build_components
    from ltx.train.flow import loss
    from ltx.train.lora import add_lora, lora_parameters
    from ltx.train.trainer import checkpoint_blocks

    torch.manual_seed(0)
    model = build_components("ltx-2.0-tiny")["transformer"].to(device, dtype)
    params = lora_parameters(add_lora(model, 4, 4, generator=torch.Generator(device).manual_seed(0)))
    for p in params:  # (B from zero: gradients reach A too)
        torch.nn.init.normal_(p, std=0.1)
    checkpoint_blocks(model)
    x = batch(model.cfg, 9, 64, 96, device, text_tokens=8)
    p = _prepared({k: v.to(dtype) if v.is_floating_point() else v for k, v in x.items()})
    with saving:
        v, a = model(p.video, p.audio)
    value = loss(v.float(), a.float(), p).mean()
    value.backward()
    return value.detach(), [q.grad.clone() for q in params]


class _HostStandIn(HostActivations):
    """HostActivations moving host tensors too (a CPU run has no device memory to free); `shift` restores them
    wrongly."""

    def __init__(self, shift: float = 0.0):
        super().__init__()
        self.shift = shift

    def moves(self, t):
        return t.requires_grad

    def _unpack(self, packed):
        return packed if isinstance(packed, torch.Tensor) else packed[1] + self.shift


def test_offloaded_activations_give_the_resident_gradients():
    """Checkpointed blocks' saved inputs sent to host memory and back: loss and LoRA gradients bitwise the resident
    step's; the hidden states of every block moved (video and audio); a wrong restore is caught."""
    import contextlib

    base_loss, base = _offload_step("cpu", contextlib.nullcontext())
    saving = _HostStandIn()
    loss, grads = _offload_step("cpu", saving)
    assert torch.equal(loss, base_loss)
    assert all(torch.equal(g, b) for g, b in zip(grads, base, strict=True))
    assert saving.moved >= 2 * 2  # (the tiny model's 2 blocks, each with a video and an audio input)
    _, wrong = _offload_step("cpu", _HostStandIn(shift=1e-3))
    assert not all(torch.equal(g, b) for g, b in zip(wrong, base, strict=True))


@pytest.mark.gpu
def test_offloaded_activations_on_cuda_are_bitwise():
    """On CUDA (pinned host copies on a side stream, restored on the compute stream): bitwise the resident step."""
    import contextlib

    base_loss, base = _offload_step("cuda", contextlib.nullcontext(), torch.bfloat16)
    saving = HostActivations()
    loss, grads = _offload_step("cuda", saving, torch.bfloat16)
    assert saving.moved >= 4
    assert torch.equal(loss, base_loss)
    assert all(torch.equal(g, b) for g, b in zip(grads, base, strict=True))


def test_offloading_activations_needs_checkpointing(tmp_path):
    from ltx.train.trainer import TrainConfig

    with pytest.raises(ValueError, match="offload_activations .* set gradient_checkpointing"):
        TrainConfig(checkpoint="x", data="y", output=str(tmp_path), offload_activations=True,
                    gradient_checkpointing=False)  # fmt: skip


def _adamw_pair(device, chunk_bytes=9000):
    from ltx.train.host_adamw import HostAdamW

    g = torch.Generator().manual_seed(0)
    ours = [torch.randn(s, generator=g).to(device).requires_grad_() for s in [(64, 32), (32,), (128, 16), (7, 5)]]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    return (
        ours,
        HostAdamW(ours, lr=1e-2, chunk_bytes=chunk_bytes),
        theirs,
        torch.optim.AdamW(theirs, lr=1e-2, fused=True if device == "cuda" else None),
    )


def _adamw_steps(ours, opt, theirs, ref, n, seed=1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        for p, q in zip(ours, theirs, strict=True):
            grad = torch.randn(p.shape, generator=g).to(p.device)
            p.grad, q.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()


def test_host_adamw_is_adamw_bitwise():
    """AdamW's moments in host memory, updated a chunk at a time: parameters and moments bitwise torch's AdamW
    through a learning-rate schedule; its state dict loads into AdamW and AdamW's into it; a moment changed on the host
    is caught."""
    import copy

    ours, opt, theirs, ref = _adamw_pair("cpu")
    schedules = [torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.1, 5) for o in (opt, ref)]
    for _ in range(3):
        _adamw_steps(ours, opt, theirs, ref, 1)
        for s in schedules:
            s.step()
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))
    pairs = list(zip(ours, theirs, strict=True))
    assert all(torch.equal(opt.state[p]["exp_avg_sq"], ref.state[q]["exp_avg_sq"]) for p, q in pairs)
    swapped_ref = torch.optim.AdamW(theirs, lr=1e-2)
    swapped_ref.load_state_dict(copy.deepcopy(opt.state_dict()))
    opt.load_state_dict(copy.deepcopy(ref.state_dict()))
    _adamw_steps(ours, opt, theirs, swapped_ref, 2)
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))
    opt.state[ours[0]]["exp_avg"][0, 0] += 1e-3
    _adamw_steps(ours, opt, theirs, swapped_ref, 1)
    assert not torch.equal(ours[0], theirs[0]) and all(torch.equal(p, q) for p, q in pairs[1:])


@pytest.mark.gpu
def test_host_adamw_on_cuda_is_fused_adamw_bitwise():
    ours, opt, theirs, ref = _adamw_pair("cuda")
    _adamw_steps(ours, opt, theirs, ref, 3)
    torch.cuda.synchronize()
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))
    for p, q in zip(ours, theirs, strict=True):
        assert opt.state[p]["exp_avg"].is_pinned() and torch.equal(
            opt.state[p]["exp_avg"], ref.state[q]["exp_avg"].cpu()
        )


@pytest.mark.oracle
def test_offloaded_optimizer_trains_as_the_resident_one(tiny, tmp_path):
    """offload_optimizer: true ends on the resident run's LoRA bitwise, and a run resumes across the setting."""
    from ltx.train.trainer import TrainConfig, train

    resident = load_file(train(_config(tiny, tmp_path / "a", steps=4, checkpoint_every=2), progress=False))
    offloaded = load_file(train(_config(tiny, tmp_path / "b", steps=4, checkpoint_every=2, offload_optimizer=True),
                                progress=False))  # fmt: skip
    assert resident.keys() == offloaded.keys() and all(torch.equal(resident[k], offloaded[k]) for k in resident)
    with pytest.raises(ValueError, match="offload_optimizer moves AdamW's moments"):
        TrainConfig(checkpoint="x", data="y", output=str(tmp_path), optimizer="adamw8bit", offload_optimizer=True)
    from ltx.train.trainer import make_optimizer

    with pytest.raises(ValueError, match="adamw8bit keeps its own state"):
        make_optimizer("adamw8bit", [torch.zeros(2, requires_grad=True)], 1e-3, offload=True)
