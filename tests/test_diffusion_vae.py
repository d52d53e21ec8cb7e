"""The LTX-2.5 diffusion video decoder: config, neighbourhood attention (reference and Triton kernel), the
strict loader and its load-time fixes, the full-size layout, and parity with ltx-core 1.2.0 (oracle tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ltx_kernels
import pytest
import torch
from safetensors.torch import load_file, save_file
from util import needs_1_2

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.config.base import ConfigError
from ltx.config.diffusion_vae import LTX2_5_DIFFUSION_DECODER, DiffusionDecoderConfig
from ltx.nn.neighborhood import neighborhood_attention_ref, window_starts
from ltx.parity.diffusion_vae_fixtures import COARSE_KEY, TINY_DIFFUSION_DECODER
from ltx.vae.diffusion import DiffusionVideoDecoder
from ltx.vae.diffusion_loading import file_key, load_diffusion_decoder

HERE = Path(__file__).resolve().parent
MANIFEST = HERE.parent / "weights" / "manifests" / "ltx-2.5.diffusion_vae.json"


# -- config -----------------------------------------------------------------------------------------
def test_config_defaults_and_checks():
    cfg = LTX2_5_DIFFUSION_DECODER
    assert (cfg.c5, cfg.rope_split, cfg.min_latent, cfg.trailing_latent_frames) == (128, (16, 24, 24), (3, 7, 7), 2)
    section = {"_class_name": "CausalDiffusionVAE", "model_output_type": "x0", "decoder": {"na_head_dim": 32}}
    assert DiffusionDecoderConfig.from_metadata(section) == cfg.replace(head_dim=32, model_output_type="x0")
    with pytest.raises(ConfigError, match="not a diffusion VAE"):
        DiffusionDecoderConfig.from_metadata({"_class_name": "CausalVideoAutoencoder"})
    with pytest.raises(ConfigError, match="turns 1024 channels into 512, but stage 1 has 256"):
        cfg.replace(stage_channels=(1024, 256, 256, 256, 128))
    with pytest.raises(ConfigError, match="8 x 32 x 32"):
        cfg.replace(upsamples=(((1, 2, 2), 2), ((1, 1, 1), 2), ((2, 2, 2), 1), ((2, 2, 2), 2)))
    rebuilt = TINY_DIFFUSION_DECODER.to_metadata()
    assert DiffusionDecoderConfig.from_metadata({"_class_name": "CausalDiffusionVAE", "decoder": rebuilt}) == (
        TINY_DIFFUSION_DECODER
    )


# -- neighbourhood attention ------------------------------------------------------------------------
def _dense(q, k, v, kernel, scale):
    """Full attention with a mask of each query's window: the definition, at O(N^2) memory."""
    b, t, h, w, n, d = q.shape

    def axis(length, size):
        s, i = window_starts(length, size), torch.arange(length)
        return (i[None] >= s[:, None]) & (i[None] < s[:, None] + size)

    a = [axis(n_, k_) for n_, k_ in zip((t, h, w), kernel, strict=True)]
    mask = a[0][:, None, None, :, None, None] & a[1][None, :, None, None, :, None] & a[2][None, None, :, None, None, :]
    qq, kk, vv = (x.reshape(b, -1, n, d).transpose(1, 2).double() for x in (q, k, v))
    s = (qq @ kk.transpose(-1, -2) * scale).masked_fill(~mask.reshape(t * h * w, -1), float("-inf"))
    return (s.softmax(-1) @ vv).transpose(1, 2).reshape(q.shape)


def test_windows_are_centred_and_shifted_inward():
    assert window_starts(7, 3).tolist() == [0, 0, 1, 2, 3, 4, 4]
    assert window_starts(5, 5).tolist() == [0] * 5
    assert window_starts(6, 4).tolist() == [0, 0, 0, 1, 2, 2]  # even window: one more position before


@pytest.mark.parametrize("shape,kernel", [((2, 4, 9, 11, 2, 16), (3, 5, 7)), ((1, 5, 4, 7, 3, 8), (1, 3, 4))])
def test_reference_is_masked_dense_attention(shape, kernel):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
    ref = _dense(q, k, v, kernel, 0.3)
    whole = neighborhood_attention_ref(q, k, v, kernel, 0.3)
    assert float((whole.double() - ref).norm() / ref.norm()) < 1e-6
    assert torch.equal(neighborhood_attention_ref(q, k, v, kernel, 0.3, budget=1), whole)  # one row at a time
    assert torch.equal(ltx_kernels.neighborhood_attention(q, k, v, kernel, 0.3), whole)  # the dispatcher on CPU
    with pytest.raises(ValueError, match="at least the window"):
        neighborhood_attention_ref(q, k, v, (shape[1] + 1, 1, 1))


def test_triton_kernel_in_the_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, str(HERE / "kernel_checks.py"), "--na"], capture_output=True, text=True,
                            env=env, cwd=HERE, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 3
    for r in rows:  # fp32 as the reference; fp16 within 2x PyTorch's own fp16 error + 1e-3
        assert r["finite"] and r["rel"] <= (1e-5 if "float32" in r["check"] else 2 * r["torch_rel"] + 1e-3), r
        assert r["wrong_rel"] > 10 * max(r["rel"], 1e-7), r


@pytest.mark.gpu
def test_triton_kernel_on_the_gpu():
    """bf16 at stage shapes of the full-size decoder: within 2x the reference's own bf16 error + 1e-3."""
    sys.path.insert(0, str(HERE))
    from kernel_checks import na_checks

    cases = [(1, 17, 64, 96, 2, 64, (3, 7, 7)), (2, 9, 24, 40, 16, 64, (3, 7, 7)), (1, 33, 40, 24, 4, 64, (3, 5, 5))]
    for r in na_checks("cuda", torch.bfloat16, cases):
        assert r["finite"] and r["rel"] <= 2 * r["torch_rel"] + 1e-3 and r["wrong_rel"] > 10 * r["rel"], r


# -- the full-size layout ---------------------------------------------------------------------------
def test_full_size_model_has_the_diffusion_vae_official_layout():
    """Our meta-built decoder, through the loader's table, reads exactly the keys and shapes of the file
    (manifest made by scripts/export_manifests.py from ltx-core 1.2.0)."""
    manifest = json.loads(MANIFEST.read_text())
    assert DiffusionDecoderConfig.from_metadata(manifest["config"]["vae"]) == LTX2_5_DIFFUSION_DECODER
    with torch.device("meta"):
        model = DiffusionVideoDecoder(LTX2_5_DIFFUSION_DECODER)
    read: dict[str, list] = {}
    for name, t in model.state_dict().items():
        key, third = file_key(name, "decoder.", "per_channel_statistics.")
        shape = list(t.shape)
        if third is not None:
            shape[0] *= 3
            assert read.setdefault(key, [shape, "bfloat16"]) == [shape, "bfloat16"]
        read[key] = [shape, "bfloat16"]
    assert read == manifest["tensors"]
    assert manifest["parameters"] == sum(t.numel() for t in model.state_dict().values()) == 104_751_792


# -- loading ----------------------------------------------------------------------------------------
def test_loader_folds_gates_splits_qkv_and_drops_coarse(diffusion_vae_ours, tmp_path):
    raw = load_file(str(diffusion_vae_ours))
    model = load_diffusion_decoder(diffusion_vae_ours)
    state = model.state_dict()
    d = TINY_DIFFUSION_DECODER.c5
    qkv = raw["decoder.diff_blocks.1.attn.qkv.weight"]
    assert torch.equal(state["diff_blocks.1.attn.qkv.to_k.weight"], qkv[d : 2 * d])
    gate = raw["decoder.diff_blocks.1.gate_mlp"]
    assert torch.equal(
        state["diff_blocks.1.mlp.w_down.weight"], gate[:, None] * raw["decoder.diff_blocks.1.mlp.w_down.weight"]
    )
    assert torch.equal(state["t_embedder.timestep_embedder.linear_2.bias"], raw["decoder.t_embedder.mlp.2.bias"])
    assert COARSE_KEY in raw
    # the monolithic layout (vae. prefix) loads the same
    meta = Checkpoint(diffusion_vae_ours).metadata
    save_file({"vae." + k: v for k, v in raw.items()}, str(tmp_path / "prefixed.safetensors"), metadata=meta)
    prefixed = load_diffusion_decoder(tmp_path / "prefixed.safetensors").state_dict()
    assert all(torch.equal(prefixed[k], v) for k, v in state.items())


def test_loader_errors(diffusion_vae_ours, tmp_path):
    raw, meta = load_file(str(diffusion_vae_ours)), Checkpoint(diffusion_vae_ours).metadata

    def write(name, tensors, metadata=meta):
        save_file(tensors, str(tmp_path / name), metadata=metadata)
        return tmp_path / name

    broken = {k: v for k, v in raw.items() if k != "decoder.diff_blocks.0.attn.qkv.bias"}
    broken["decoder.upsamples.1.proj.weight"] = raw["decoder.upsamples.1.proj.weight"][:-1]
    broken["decoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as e:
        load_diffusion_decoder(write("broken.safetensors", broken))
    text = str(e.value)
    assert "1 missing: decoder.diff_blocks.0.attn.qkv.bias" in text and "1 unexpected: decoder.extra.weight" in text
    assert "1 wrong shape: decoder.upsamples.1.proj.weight" in text
    conv = json.loads(meta["config"])
    conv["vae"]["_class_name"] = "CausalVideoAutoencoder"
    with pytest.raises(CheckpointError, match="holds a 'CausalVideoAutoencoder'.*ltx.vae.load_video_decoder"):
        load_diffusion_decoder(write("conv.safetensors", raw, {**meta, "config": json.dumps(conv)}))
    with pytest.raises(CheckpointError, match="expects a video VAE file"):
        load_diffusion_decoder(write("other.safetensors", {"audio_vae.x": torch.zeros(1)}))


def test_decode_is_deterministic_and_batched(diffusion_vae_ours):
    """Seeded noise from the caller's generator; one x0 step with batch 2 (the official x0 Euler step takes
    batch 1 only)."""
    model = load_diffusion_decoder(diffusion_vae_ours)
    model.cfg = model.cfg.replace(model_output_type="x0", default_num_inference_steps=1)
    latent = torch.randn(2, 16, 2, 2, 1, generator=torch.Generator().manual_seed(0))  # below the size floor
    a, b = (model(latent, generator=torch.Generator().manual_seed(5)) for _ in range(2))
    assert a.shape == (2, 3, 9, 64, 32) and torch.isfinite(a).all() and torch.equal(a, b)
    assert not torch.equal(a, model(latent, generator=torch.Generator().manual_seed(6)))
    with pytest.raises(ValueError, match=r"expected latents \(B, 16, T, H, W\)"):
        model(latent[:, :8])


def test_attention_over_slabs_of_frames_equals_the_whole(diffusion_vae_ours, monkeypatch):
    """With the slab size at its floor every stage attends a few frames at a time (each slab with the frames
    its windows reach, RoPE positions offset): the decode equals the one-piece decode."""
    import ltx.vae.diffusion as diffusion

    model = load_diffusion_decoder(diffusion_vae_ours)
    latent = torch.randn(1, 16, 4, 2, 3, generator=torch.Generator().manual_seed(1))
    whole = model(latent, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(diffusion, "SLAB_ELEMENTS", 1)
    slabs = model(latent, generator=torch.Generator().manual_seed(2))
    assert (slabs - whole).abs().max() <= 1e-5 * whole.abs().max()

    # (q.k depends on the frame difference only, so the RoPE offset cannot show here; the windows can:)
    def halo_less_forward(self, x, w_pad=0):
        cuts = [t for t in range(0, x.shape[1] - 2 * self.kernel[0] + 1, self.kernel[0])] + [x.shape[1]]
        return torch.cat([self._attend(x[:, a:b], w_pad, a) for a, b in zip(cuts, cuts[1:], strict=False)], dim=1)

    monkeypatch.setattr(diffusion.NeighborhoodSelfAttention, "forward", halo_less_forward)
    halo_less = model(latent, generator=torch.Generator().manual_seed(2))  # slabs without the frames they reach
    assert not torch.allclose(halo_less, whole, atol=1e-3)


# -- parity with ltx-core 1.2.0 ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def official_runs(diffusion_vae_official):
    from ltx.parity.diffusion_vae import official_captures

    return official_captures(diffusion_vae_official, torch.device("cpu"), torch.float32)


@pytest.mark.oracle
@needs_1_2
def test_loaded_weights_equal_the_official_loaders(diffusion_vae_official):
    from ltx.parity.diffusion_vae import official_decoder

    ours = load_diffusion_decoder(diffusion_vae_official).state_dict()
    theirs = official_decoder(diffusion_vae_official, torch.device("cpu"), torch.float32).state_dict()
    theirs = {k: v for k, v in theirs.items() if ".stage4_upsample." not in k}  # chunked mode's alias of upsamples.3
    assert sorted(ours) == sorted(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.oracle
@needs_1_2
def test_parity_fp32(diffusion_vae_official, official_runs):
    """Every stage, every step, the pixels: chunked (batch 1), combined (batch 2), x0 with edge padding.
    Within 1e-5, not bitwise: the official attention is SDPA over masked windows (and its W-chunked
    slabs), ours sums the window; every other op matches (conv_in, t_embedder are exact)."""
    from ltx.parity.compare import compare_exact
    from ltx.parity.diffusion_vae import our_captures

    ours = our_captures(diffusion_vae_official, torch.device("cpu"), torch.float32)
    rows = compare_exact("tiny", ours, official_runs)
    assert len(rows) == 64 and all(r.passed for r in rows), [r for r in rows if not r.passed][:5]
    assert max(r.rel for r in rows) < 2e-6
    assert {r.name for r in rows if r.max_abs == 0} >= {"chunked/conv_in#0", "combined/t_embedder#1"}


@pytest.mark.oracle
@needs_1_2
def test_a_wrong_weight_fails_exactly_downstream(diffusion_vae_official, official_runs):
    from ltx.parity.compare import compare_exact
    from ltx.parity.diffusion_vae import our_captures

    def perturb(decoder):
        decoder.det_stages[2][0].attn.qkv["to_k"].weight.data[3, 5] += 0.5

    got = our_captures(diffusion_vae_official, torch.device("cpu"), torch.float32, ("chunked",), edit=perturb)
    ref = {k: v for k, v in official_runs.items() if k.startswith("chunked/")}
    failed = {r.name.removeprefix("chunked/") for r in compare_exact("tiny", got, ref) if not r.passed}
    upstream = {"conv_in#0", "det_stages.0.0#0", "upsamples.0#0", "det_stages.1.0#0", "upsamples.1#0"}
    independent = {"t_embedder#0", "t_embedder#1", "conv_in_x_t#0"}  # the noise level; the first step's noise
    assert failed == {k.removeprefix("chunked/") for k in ref} - upstream - independent


@pytest.mark.oracle
@needs_1_2
def test_the_files_conv_encoder_matches(diffusion_vae_official):
    from ltx.parity.compare import compare_exact
    from ltx.parity.diffusion_vae import encoder_run

    cpu = torch.device("cpu")
    rows = compare_exact("tiny", encoder_run(diffusion_vae_official, cpu, torch.float32, False),
                         encoder_run(diffusion_vae_official, cpu, torch.float32, True))  # fmt: skip
    assert rows and all(r.passed and r.max_abs == 0 for r in rows), rows
