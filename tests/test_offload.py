"""Weight streaming (ltx.offload, `Models(gpu_memory=..., offload=...)`): the plan for a budget, and streamed
generation bitwise equal to the resident model's on tiny files (a fake budget on the CPU: the same code, run
synchronously) with every source, LoRAs fused while streaming, float8 weights streamed as float8, and the disk
source reading each block once per call."""

from dataclasses import replace

import pytest
import torch

from ltx import offload
from ltx.offload import GiB, Layout, plan, plan_or_all

MiB = 2**20


def test_plan_keeps_what_fits_and_spreads_the_rest():
    block, fixed, working = 100 * MiB, 300 * MiB, 500 * MiB
    every = plan(48, block, fixed, working, 6 * GiB)
    assert every.streamed == () and len(every.resident) == 48 and every.slots == 0
    p = plan(48, block, fixed, working, 3 * GiB)
    fit = (3 * GiB - fixed - working - 2 * block) // block
    assert len(p.resident) == fit and len(p.streamed) == 48 - fit and p.slots == 2
    assert p.gpu_bytes <= 3 * GiB and set(p.resident) | set(p.streamed) == set(range(48))
    gaps = [b - a for a, b in zip(p.streamed, p.streamed[1:], strict=False)]
    assert max(gaps) - min(gaps) <= 1  # spread evenly through the loop
    assert "streamed through 2 slots" in p.describe()
    one_left = plan(4, block, fixed, working, fixed + working + 3 * block)
    assert len(one_left.resident) == 1 and len(one_left.streamed) == 3
    assert plan_or_all(48, block, fixed, working, None).streamed == tuple(range(48))
    with pytest.raises(ValueError, match=r"budget of 0.50 GiB is below what the transformer needs at the least: "
                                         r"0.95 GiB .* give at least 1.0 GiB"):  # fmt: skip
        plan(48, block, fixed, working - 24 * MiB, GiB // 2)


def test_layout_carves_aligned_views():
    tensors = {"a": torch.zeros(3, 5), "b": torch.zeros(7, dtype=torch.float8_e4m3fn), "c": torch.zeros(2)}
    layout = Layout.of(tensors)
    assert [e[3] for e in layout.entries] == [0, 512, 1024] and layout.nbytes == 1536
    views = layout.carve(torch.zeros(layout.nbytes, dtype=torch.uint8))
    assert {n: (v.shape, v.dtype) for n, v in views.items()} == {n: (t.shape, t.dtype) for n, t in tensors.items()}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("ltx_core", reason="the tiny checkpoints are written from the official modules")
    from ltx.parity import pipeline_fixtures as fx
    from ltx.parity.fixtures import TINY, write_tiny_checkpoint

    folder = tmp_path_factory.mktemp("offload")
    spec = TINY["ltx-2.3-tiny"]
    six = replace(spec, name="six", transformer=spec.transformer.replace(num_layers=6))
    out = {}
    for name, s in (("six", six), ("fp8", TINY["ltx-2.0-fp8-cast-tiny"])):
        src = write_tiny_checkpoint(s, folder / f"{name}.safetensors")
        ckpt = src if name == "fp8" else fx.write_bf16_copy(src, folder / f"{name}-bf16.safetensors")
        out[name] = (ckpt, fx.write_prompt_file(ckpt, folder / f"{name}-prompts.safetensors",
                                                ["a prompt", "a negative prompt"], 0))  # fmt: skip
    out["lora"] = fx.write_tiny_lora(out["six"][0], folder / "lora.safetensors", seed=3, every=2)
    out["vae-2.0"] = write_tiny_checkpoint("ltx-2.0-tiny", folder / "vae-2.0.safetensors")  # (the fp8 file has none)
    return out


def _generate(ckpt, prompts, **models):
    from ltx.parity.pipelines import request
    from ltx.pipelines import Models
    from ltx.pipelines import generate as pipelines

    m = Models(ckpt, prompts=prompts, device="cpu", dtype=torch.float32, **models)
    forwards = []
    req = replace(request("one-stage"), images=[], steps=2)
    result = pipelines.one_stage(m, req)
    return result, m, forwards


@pytest.fixture(autouse=True)
def _no_activation_margin(monkeypatch):
    """Tiny models: budgets in KiB, so the activation estimate (sized for real clips) is left out."""
    monkeypatch.setattr(offload, "WORKING_MARGIN", 0)
    monkeypatch.setattr(offload, "WORKING_PER_TOKEN_DIM", 0)


@pytest.mark.parametrize(
    "name, kwargs, resident",
    [
        ("six", {"offload": "cpu"}, 0),
        ("six", {"offload": "disk"}, 0),
        ("six", {"gpu_memory": "two-resident"}, 2),
        ("six", {"gpu_memory": "two-resident", "offload": "disk"}, 2),
        ("six", {"gpu_memory": "two-resident", "loras": "lora"}, 2),
        ("six", {"offload": "disk", "loras": "lora"}, 0),
        ("fp8", {"offload": "cpu"}, 0),
        ("fp8", {"offload": "disk"}, 0),
    ],
)
def test_streamed_generation_is_bitwise_the_resident_one(files, name, kwargs, resident):
    """One-stage generation (CFG + STG passes, several calls per step) with the blocks streamed: the latents, the
    waveform and the frames are bitwise those of the all-resident model (LoRAs fused into the resident model up
    front, into the streamed blocks as they are made final; fp8-cast blocks streamed as float8)."""
    ckpt, prompts = files[name]
    kwargs = dict(kwargs)
    loras = [(files["lora"], 0.7)] if kwargs.pop("loras", None) else []
    vaes = {"video_vae": files["vae-2.0"], "audio_vae": files["vae-2.0"]} if name == "fp8" else {}
    base, _, _ = _generate(ckpt, prompts, loras=loras, **vaes)
    if kwargs.get("gpu_memory") == "two-resident":
        from ltx.dit import load_transformer

        model = load_transformer(ckpt, dtype=torch.float32)
        block, fixed = offload.sizes(model, "transformer_blocks", torch.float32)
        kwargs["gpu_memory"] = (fixed + 4 * block + 100) / GiB  # two resident + two slots
    out, models, _ = _generate(ckpt, prompts, loras=loras, **vaes, **kwargs)
    ((key, streamer),) = models.streamers.items()
    p = models.plans[key]
    assert len(p.resident) == resident and len(p.streamed) == 6 - resident if name == "six" else True
    assert streamer.copies > 0 and not streamer.slots  # it streamed, and let its buffers go when released
    for field in ("video_latent", "audio_latent", "audio", "video"):
        a, b = getattr(out, field), getattr(base, field)
        assert (a is None and b is None) or torch.equal(a, b), field
    if name == "fp8":
        assert {t.dtype for t in streamer.layout.carve(torch.empty(streamer.layout.nbytes, dtype=torch.uint8)).values()
                } >= {torch.float8_e4m3fn}  # fmt: skip


def test_a_wrong_streamed_weight_is_caught(files):
    """The comparison above would see one wrong value: a streamed block's pinned copy changed in one element
    changes the generated latents."""
    ckpt, prompts = files["six"]
    base, _, _ = _generate(ckpt, prompts)
    from ltx.parity.pipelines import request
    from ltx.pipelines import Models
    from ltx.pipelines import generate as pipelines

    models = Models(ckpt, prompts=prompts, device="cpu", dtype=torch.float32, offload="cpu")
    real = models.transformer

    def nudged(*a, **k):
        model = real(*a, **k)
        (streamer,) = models.streamers.values()
        buffer = streamer.source.buffers[streamer.streamed[2]]
        view = streamer.layout.carve(buffer)["attn1.to_q.weight"]
        view[0, 0] += 0.5
        return model

    models.transformer = nudged
    out = pipelines.one_stage(models, replace(request("one-stage"), images=[], steps=2))
    assert not torch.equal(out.video_latent, base.video_latent)


def test_disk_reads_each_streamed_block_once_per_call(files):
    from ltx.parity.pipelines import request
    from ltx.pipelines import Models
    from ltx.pipelines import generate as pipelines

    ckpt, prompts = files["six"]
    models = Models(ckpt, prompts=prompts, device="cpu", dtype=torch.float32, offload="disk")
    calls = []
    real = models.transformer

    def counted(*a, **k):
        model = real(*a, **k)
        if not calls:
            model.register_forward_hook(lambda *_: calls.append(1))
        return model

    models.transformer = counted
    pipelines.one_stage(models, replace(request("one-stage"), images=[], steps=2))
    (streamer,) = models.streamers.values()
    # (+1: after the last block, the next call's first block is fetched ahead, and the reader is one block ahead)
    assert len(calls) >= 4 and streamer.copies == 6 * len(calls) + 1, (streamer.copies, len(calls))
    assert streamer.source.reads == streamer.copies + 1, streamer.source.reads


def test_bad_budgets_and_sources_are_named_before_any_work(files):
    from ltx.pipelines import Models

    ckpt, prompts = files["six"]
    for kwargs, message in (({"gpu_memory": -1}, "gpu_memory is a budget in GiB: give a positive number"),
                            ({"offload": "ram"}, "offload must be 'cpu' or 'disk'"),
                            ({"offload": "cpu", "accelerate": True}, "a CUDA graph holds fixed weights")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            Models(ckpt, prompts=prompts, device="cpu", **kwargs)
    models = Models(ckpt, prompts=prompts, device="cpu", dtype=torch.float32, gpu_memory=1e-5)
    with pytest.raises(ValueError, match="is below what the transformer needs at the least"):
        models.transformer()


def test_gemma_streams_its_layers_bitwise(tiny_gemma, monkeypatch):
    """Gemma-3 under a budget: the decoder layers that do not fit stream; every hidden state is bitwise the
    resident model's."""
    from ltx.text.gemma import Gemma

    monkeypatch.setattr(offload, "TEXT_WORKING", 0)
    resident = Gemma(tiny_gemma, dtype=torch.float32)
    model = resident.model
    block, fixed = offload.sizes(model, "layers", torch.float32)
    streamed = Gemma(tiny_gemma, dtype=torch.float32, gpu_memory=(fixed + 2 * block + 100) / GiB)  # two slots
    assert streamed.streamer is not None and streamed.streamer.streamed == (0, 1, 2)
    (a, mask_a), (b, mask_b) = resident.encode(["a cat", "a dog walks"]), streamed.encode(["a cat", "a dog walks"])
    assert torch.equal(mask_a, mask_b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert streamed.streamer.copies > 0


@pytest.mark.gpu
def test_streaming_on_cuda_is_bitwise_the_resident_model():
    """On the GPU, at the 19B's width (8 of its blocks), bf16: streamed from pinned memory through two slots on the
    copy stream, and from a budget that keeps some blocks, the velocity is bitwise the resident model's; the cap
    holds."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from ltx.bench.e2e import inputs
    from ltx.config import LTX2_19B
    from ltx.dit import LTX2Transformer
    from ltx.parity.fixtures import random_value

    cfg = LTX2_19B.replace(num_layers=8)
    with torch.device("meta"):
        model = LTX2Transformer(cfg)
    gen = torch.Generator().manual_seed(0)
    host = {k: random_value(k, v.shape, gen).to(torch.bfloat16) for k, v in model.state_dict().items()}
    with torch.device("meta"):
        resident = LTX2Transformer(cfg)
    resident.load_state_dict({k: v.cuda() for k, v in host.items()}, assign=True)
    video, audio = inputs(cfg, 25, 256, 384, torch.device("cuda"), text_tokens=128)
    with torch.inference_mode():
        want = resident(video, audio)
    del resident
    block, fixed = offload.sizes(model, "transformer_blocks", torch.bfloat16)
    for budget in (None, fixed + 5 * block):
        with torch.device("meta"):
            model = LTX2Transformer(cfg)
        model.load_state_dict(host, assign=True)
        p = offload.plan_or_all(8, block, fixed, 0, budget)
        streamer = offload.stream(model.eval(), "transformer_blocks", p, device="cuda", finalize=lambda m, x: None)
        with torch.inference_mode():
            got = [model(video, audio) for _ in range(2)]
        for out in got:
            assert all(torch.equal(a, b) for a, b in zip(out, want, strict=True))
        assert streamer.copies >= 2 * len(p.streamed)
        streamer.close()


def test_generate_command_streams_and_checks_the_budget(files, tmp_path, capsys, monkeypatch):
    """`ltx generate --offload disk` writes the frames the resident run writes; a budget below the least the run
    needs is refused with that least (here the activation margin counts, as for a real run)."""
    from ltx.cli import main

    monkeypatch.setattr(offload, "WORKING_MARGIN", GiB)
    from ltx.media import read_video

    ckpt, prompts = files["six"]
    base = ["generate", "--checkpoint", str(ckpt), "--prompts", str(prompts), "--prompt", "a prompt",
            "--negative-prompt", "a negative prompt", "--device", "cpu", "--dtype", "float32", "--height", "64",
            "--width", "64", "--frames", "9", "--steps", "2", "--stg-blocks", "1"]  # fmt: skip
    assert main([*base, "--output", str(tmp_path / "a.mp4")]) == 0
    assert main([*base, "--offload", "disk", "--output", str(tmp_path / "b.mp4")]) == 0, capsys.readouterr().err
    assert torch.equal(read_video(tmp_path / "a.mp4"), read_video(tmp_path / "b.mp4"))
    capsys.readouterr()
    assert main([*base, "--gpu-memory", "0.5", "--output", str(tmp_path / "c.mp4")]) == 2
    assert "below what the transformer needs at the least" in capsys.readouterr().err
    assert not (tmp_path / "c.mp4").exists()
