"""Tests that need no oracle: every component built from our own modules and configs with random weights
(ltx.testing), nothing from ltx-core, ltx-pipelines, ltx-video or diffusers (under `python -m pytest -m "not
oracle"`, or LTX_BLOCK_ORACLE=1, importing them is an error). Forward shapes and finiteness at batch 2,
determinism under a torch.Generator, gradients against finite differences (float64), and the save -> strict
load round trip through our loaders."""

import json
from dataclasses import replace

import pytest
import torch
from torch.func import functional_call
from util import needs_1_2

from ltx import testing
from ltx.audio import load_audio_decoder, load_audio_encoder, load_vocoder
from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.config import AudioVAEConfig, TransformerConfig, UpsamplerConfig, VideoVAEConfig, VocoderConfig
from ltx.config.text import TextConfig
from ltx.dit import LTX2Transformer, Stream, load_transformer
from ltx.dit.latents import audio_positions, video_positions
from ltx.parity.fixtures import TINY, TINY_GEMMA, UPSAMPLERS
from ltx.text import T5, TextEncoder, load_text_processor
from ltx.vae import VideoDecoder, load_latent_upsampler, load_video_decoder, load_video_encoder

TRANSFORMERS = ["ltx-2.0-tiny", "ltx-2.3-tiny", "ltx-2.5-tiny", "ltx-2.0-video-only-tiny"]
VAES = ["ltx-2.0-tiny", "ltx-2.3-tiny", "ltx-video-0.9.1-tiny", "ltx-video-0.9.0-tiny"]
AUDIO = ["ltx-2.0-tiny", "ltx-2.3-tiny"]
F64 = torch.float64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread is several times faster than two on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def built():
    """spec name -> {component: our module}, random (seed 0), built once per module."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = testing.build_components(name)
        return cache[name]

    return get


def _streams(cfg: TransformerConfig, batch: int = 2, seed: int = 0, dtype=torch.float32):
    """Batch-2 inputs for a 2 x 2 x 3 latent grid, 5 audio tokens and 6 text tokens; each sample its own sigma."""
    g = torch.Generator().manual_seed(seed)
    randn = lambda *s: torch.randn(*s, generator=g).to(dtype)  # noqa: E731
    text_v = cfg.cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
    text_a = cfg.audio_cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
    sigma = torch.linspace(0.9, 0.3, batch, dtype=dtype)
    video = Stream(
        latent=randn(batch, 12, cfg.in_channels),
        sigma=sigma,
        timesteps=sigma[:, None].expand(-1, 12),
        positions=video_positions(2, 2, 3, 24.0, batch=batch).to(dtype),
        context=randn(batch, 6, text_v),
    )
    if not cfg.has_audio:
        return video, None
    audio = Stream(latent=randn(batch, 5, cfg.audio_in_channels), sigma=sigma.flip(0),
                   timesteps=sigma.flip(0)[:, None].expand(-1, 5), positions=audio_positions(5, batch=batch).to(dtype),
                   context=randn(batch, 6, text_a))  # fmt: skip
    return video, audio


def _finite(*tensors):
    return all(t is None or bool(torch.isfinite(t).all()) for t in tensors)


# -- forward: shapes and finiteness at batch 2 ------------------------------------------------------


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_transformer_forward(built, name):
    model = built(name)["transformer"]
    video, audio = _streams(model.cfg)
    with torch.no_grad():
        v, a = model(video, audio)
    assert v.shape == video.latent.shape and _finite(v)
    assert (a is None) == (audio is None) and (a is None or a.shape == audio.latent.shape)
    assert _finite(a) and not torch.allclose(v[0], v[1])  # the samples differ: each has its own sigma and latent


@pytest.mark.parametrize("name", VAES)
def test_video_vae_forward(built, name):
    m = built(name)
    encoder, decoder = m["vae_encoder"], m["vae_decoder"]
    video = torch.rand(2, 3, 9, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        latent = encoder(video)
        out = decoder(latent, timestep=torch.tensor([0.05, 0.2]), generator=torch.Generator().manual_seed(1))
    assert latent.shape == (2, 128, 2, 2, 2) and out.shape == video.shape and _finite(latent, out)


@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_latent_upsampler_forward(name):
    cfg = UPSAMPLERS[name].config
    latent = torch.randn(2, 128, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = testing.build_upsampler(cfg)(latent)
    frames = 5 if cfg.temporal_upsample else 3
    side = 4 if not cfg.spatial_upsample else int(4 * cfg.spatial_scale)
    assert out.shape == (2, 128, frames, side, side) and _finite(out)


@pytest.mark.parametrize("name", AUDIO)
def test_audio_vae_and_vocoder_forward(built, name):
    m = built(name)
    mel = torch.randn(2, 2, 17, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        latent = m["audio_encoder"](mel)
        decoded = m["audio_decoder"](latent)
        wave = m["vocoder"](decoded)
    assert latent.shape == (2, 8, 5, 16) and decoded.shape == mel.shape
    cfg = TINY[name].vocoder
    assert wave.shape == (2, 2, 17 * cfg.generator.hop * cfg.output_sampling_rate // cfg.generator.output_sampling_rate)
    assert _finite(latent, decoded, wave) and wave.abs().max() <= 1


@pytest.mark.parametrize("name", AUDIO)
def test_text_side_forward(built, name):
    processor = built(name)["text"]
    g = torch.Generator().manual_seed(0)
    layers = TINY_GEMMA["num_hidden_layers"] + 1
    hidden = tuple(torch.randn(2, 9, TINY_GEMMA["hidden_size"], generator=g) for _ in range(layers))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 5:] = 0  # the second prompt is shorter
    with torch.no_grad():
        out = processor(hidden, mask)
        # what sits in a padded position of the hidden states does not matter
        padded = tuple(h.index_put((torch.tensor([1]), torch.tensor([7])), torch.tensor(9.0)) for h in hidden)
        changed = processor(padded, mask)
    cfg = processor.cfg
    assert out.video.shape == (2, 9, cfg.video.dim) and out.audio.shape == (2, 9, cfg.audio.dim)
    assert torch.equal(out.mask, torch.ones(2, 9, dtype=torch.long)) and _finite(out.video, out.audio)
    assert torch.equal(changed.video, out.video) and torch.equal(changed.audio, out.audio)


def test_gemma_and_t5_forward(tiny, tiny_gemma, tiny_t5):
    encoder = TextEncoder(tiny_gemma, tiny["ltx-2.3-tiny"], dtype=torch.float32, max_length=32)
    prompts = ["A cat walks in the garden.", "Waves."]
    out = encoder.encode(prompts)
    assert out.video.shape[0] == 2 and out.video.shape[2] == encoder.processor.cfg.video.dim and _finite(out.video)
    hidden, mask = encoder.gemma.encode(prompts)
    assert len(hidden) == TINY_GEMMA["num_hidden_layers"] + 1 and mask.sum(1)[0] > mask.sum(1)[1]
    states, t5_mask = T5(tiny_t5, dtype=torch.float32).encode(prompts)
    assert states.shape[:2] == t5_mask.shape and t5_mask.sum(1)[0] > t5_mask.sum(1)[1] and _finite(states)


# -- determinism under a generator ------------------------------------------------------------------


def test_random_weights_follow_the_seed(built):
    first, again = built("ltx-2.5-tiny"), testing.build_components("ltx-2.5-tiny")
    other = testing.build_components("ltx-2.5-tiny", seed=1)
    for component, module in first.items():
        same, different = again[component].state_dict(), other[component].state_dict()
        for key, t in module.state_dict().items():
            assert torch.equal(t, same[key]), key
        assert any(not torch.equal(t, different[k]) for k, t in module.state_dict().items()), component


def test_forward_passes_are_deterministic(built):
    m = built("ltx-2.3-tiny")
    video, audio = _streams(m["transformer"].cfg)
    latent = torch.randn(2, 128, 2, 2, 2, generator=torch.Generator().manual_seed(0))
    decode = lambda seed: m["vae_decoder"](latent, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    with torch.no_grad():
        assert all(map(torch.equal, m["transformer"](video, audio), m["transformer"](video, audio)))
        assert torch.equal(decode(3), decode(3))
        assert not torch.equal(decode(3), decode(4))  # the 2.3 decoder injects noise, all from the generator


# -- gradients against finite differences (float64) ---------------------------------------------------

_GRAD_TRANSFORMER = TransformerConfig(
    num_layers=1, num_attention_heads=2, attention_head_dim=4, in_channels=4, out_channels=4, cross_attention_dim=8,
    caption_channels=6, audio_num_attention_heads=2, audio_attention_head_dim=4, audio_in_channels=4,
    audio_out_channels=4, audio_cross_attention_dim=8, frequencies_precision="float64",
)  # fmt: skip


@pytest.mark.parametrize("version", ["2.0", "2.3"])
def test_transformer_gradients_match_finite_differences(version):
    """Through both streams and every attention (self, text, a2v, v2a): d outputs / d (latents, the AdaLN table,
    an a2v projection), checked by torch.autograd.gradcheck (fast mode: random projections)."""
    cfg = _GRAD_TRANSFORMER
    if version == "2.3":
        cfg = cfg.replace(rope_type="split", apply_gated_attention=True, cross_attention_adaln=True,
                          caption_proj_before_connector=True)  # fmt: skip
    model = testing.fill_random(LTX2Transformer(cfg), torch.Generator().manual_seed(0)).to(F64)
    video, audio = _streams(cfg, batch=1, dtype=F64)
    names = ["transformer_blocks.0.scale_shift_table", "transformer_blocks.0.audio_to_video_attn.to_q.weight"]
    params = dict(model.named_parameters())

    def run(v_latent, a_latent, *weights):
        v, a = replace(video, latent=v_latent), replace(audio, latent=a_latent)
        return functional_call(model, dict(zip(names, weights, strict=True)), (v, a))

    inputs = (video.latent, audio.latent, *(params[n].detach() for n in names))
    assert torch.autograd.gradcheck(run, tuple(t.clone().requires_grad_() for t in inputs), fast_mode=True)


def test_video_decoder_gradients_match_finite_differences():
    """A timestep-conditioned, noise-injecting causal decoder: d pixels / d (latent, modulation tables, a conv,
    the noise scales), with the same generator seed on every call. (The timestep itself enters through a
    float32 sinusoid, as in the official code, so it is not differentiated here.)"""
    cfg = VideoVAEConfig(
        latent_channels=4, patch_size=1, decoder_base_channels=4, causal_decoder=True, timestep_conditioning=True,
        decoder_blocks=(("res_x", {"num_layers": 1, "inject_noise": True}),
                        ("compress_all", {"residual": True, "multiplier": 2}), ("res_x", {"num_layers": 1})),
    )  # fmt: skip
    decoder = testing.fill_random(VideoDecoder(cfg), torch.Generator().manual_seed(0)).to(F64)
    names = ["last_scale_shift_table", "up_blocks.0.res_blocks.0.conv1.conv.weight",
             "up_blocks.2.res_blocks.0.per_channel_scale1", "up_blocks.2.res_blocks.0.scale_shift_table"]  # fmt: skip
    params = dict(decoder.named_parameters())
    kwargs = lambda: dict(timestep=torch.tensor([0.05], dtype=F64), generator=torch.Generator().manual_seed(0))  # noqa: E731

    def run(latent, *weights):
        return functional_call(decoder, dict(zip(names, weights, strict=True)), (latent,), kwargs())

    latent = torch.randn(1, 4, 2, 2, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    inputs = (latent, *(params[n].detach() for n in names))
    assert torch.autograd.gradcheck(run, tuple(t.clone().requires_grad_() for t in inputs), fast_mode=True)


# -- save -> strict load round trip through our loaders -------------------------------------------------


def _load_all(path, components):
    """Each component of `path` through its loader (float32, the file's config)."""
    loaders = {
        "transformer": lambda: load_transformer(path, dtype=torch.float32),
        "text": lambda: load_text_processor(
            path, gemma_hidden=TINY_GEMMA["hidden_size"], gemma_layers=TINY_GEMMA["num_hidden_layers"]
        ),  # fmt: skip
        "vae_encoder": lambda: load_video_encoder(path),
        "vae_decoder": lambda: load_video_decoder(path),
        "audio_encoder": lambda: load_audio_encoder(path),
        "audio_decoder": lambda: load_audio_decoder(path),
        "vocoder": lambda: load_vocoder(path),
    }
    return {c: loaders[c]() for c in components}


@pytest.mark.parametrize("name", [n for n in TINY if not TINY[n].fp8_cast])
def test_save_then_strict_load_gives_the_same_model(built, name, tmp_path):
    ours = built(name)
    path = testing.write_components(ours, name, tmp_path / f"{name}.safetensors")
    if not TINY[name].text_projection:  # a split transformer file: its text side is not complete alone
        ours = {c: m for c, m in ours.items() if c != "text"}
    loaded = _load_all(path, ours)
    for component, module in ours.items():
        state = loaded[component].state_dict()
        assert state.keys() == module.state_dict().keys(), component
        assert all(torch.equal(t, state[k]) for k, t in module.state_dict().items()), component
    with torch.no_grad():
        if "transformer" in ours:
            video, audio = _streams(ours["transformer"].cfg)
            for a, b in zip(ours["transformer"](video, audio), loaded["transformer"](video, audio), strict=True):
                assert (a is None and b is None) or torch.equal(a, b)
        if "vae_decoder" in ours:
            latent = torch.randn(2, 128, 2, 2, 2, generator=torch.Generator().manual_seed(0))
            dec = lambda m: m(latent, generator=torch.Generator().manual_seed(0))  # noqa: E731
            assert torch.equal(dec(ours["vae_decoder"]), dec(loaded["vae_decoder"]))
        if "vocoder" in ours:
            mel = torch.randn(1, 2, 5, 64, generator=torch.Generator().manual_seed(0))
            assert torch.equal(ours["vocoder"](mel), loaded["vocoder"](mel))
    assert json.loads(Checkpoint(path).metadata["config"]).keys() == testing.official_config(TINY[name]).keys()


def test_fp8_cast_file_round_trip(built, tmp_path):
    ours = built("ltx-2.0-fp8-cast-tiny")["transformer"]
    path = testing.write_components({"transformer": ours}, "ltx-2.0-fp8-cast-tiny", tmp_path / "fp8.safetensors")
    loaded = load_transformer(path, dtype=torch.float32)
    weight = loaded.transformer_blocks[0].attn1.to_q.weight
    assert weight.dtype == torch.float8_e4m3fn
    assert torch.equal(weight, ours.transformer_blocks[0].attn1.to_q.weight.to(torch.float8_e4m3fn))
    video, audio = _streams(ours.cfg)
    with torch.no_grad():
        assert _finite(*loaded(video, audio))


@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_upsampler_save_then_strict_load(name, tmp_path):
    ours = testing.build_upsampler(UPSAMPLERS[name].config, seed=2)
    loaded = load_latent_upsampler(testing.write_upsampler(ours, tmp_path / "up.safetensors"))
    latent = torch.randn(1, 128, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert loaded.cfg == ours.cfg and torch.equal(ours(latent), loaded(latent))


def test_a_file_from_a_changed_module_is_refused_by_name(built, tmp_path):
    ours = built("ltx-2.0-tiny")
    state = {**ours}
    decoder = VideoDecoder(TINY["ltx-2.0-tiny"].vae.replace(decoder_base_channels=8))  # another width
    state["vae_decoder"] = testing.fill_random(decoder, torch.Generator().manual_seed(0))
    state["vae_decoder"].per_channel_statistics.load_state_dict(ours["vae_encoder"].per_channel_statistics.state_dict())
    path = testing.write_components(state, "ltx-2.0-tiny", tmp_path / "changed.safetensors")
    with pytest.raises(CheckpointError, match=r"wrong shape: vae\.decoder\.conv_in\.conv\.weight"):
        load_video_decoder(path)
    load_video_encoder(path)  # the other half is untouched


# -- configs: metadata round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TINY))
def test_configs_survive_their_metadata(name):
    spec = TINY[name]
    if spec.transformer is not None:
        meta = spec.transformer.to_metadata()
        assert TransformerConfig.from_metadata(meta, has_audio=spec.transformer.has_audio) == spec.transformer
    if spec.connectors:
        text = testing.text_config(spec)
        again = TextConfig.from_metadata({**spec.transformer.to_metadata(), **text.to_metadata()},
                                         audio=text.audio is not None, gemma_hidden=text.gemma_hidden,
                                         gemma_layers=text.gemma_layers)  # fmt: skip
        assert again == text
    if spec.vae is not None:
        assert VideoVAEConfig.from_metadata(spec.vae.to_metadata(), spec.vae.family) == spec.vae
    if spec.audio_vae is not None:
        assert AudioVAEConfig.from_metadata(spec.audio_vae.to_metadata()) == spec.audio_vae
    if spec.vocoder is not None:
        assert VocoderConfig.from_metadata(spec.vocoder.to_metadata()) == spec.vocoder
    for up in UPSAMPLERS.values():
        assert UpsamplerConfig.from_metadata(up.config.to_metadata()) == up.config


def test_the_blocker_refuses_official_packages_only():
    blocker = testing._OfficialPackageBlocker()
    for name in ("ltx_core", "ltx_core.model.transformer", "ltx_pipelines.utils", "ltx_video", "diffusers.models"):
        with pytest.raises(ImportError, match="blocked"):
            blocker.find_spec(name)
    assert blocker.find_spec("ltx") is None and blocker.find_spec("transformers") is None


@pytest.mark.oracle
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=needs_1_2) if TINY[n].model_version.startswith("2.5") else n for n in TINY]
)
def test_files_from_our_modules_have_the_official_layout(name, tmp_path):
    """The one test here that needs the oracle: ltx.testing writes exactly the keys and shapes of the official
    modules' state dicts (what ltx.parity.fixtures writes), so the two kinds of tiny file are interchangeable."""
    from ltx.parity.fixtures import official_tensors

    ours = Checkpoint(testing.write_tiny_checkpoint(name, tmp_path / f"{name}.safetensors"))
    official = {k: tuple(t.shape) for k, t in official_tensors(TINY[name]).items()}
    assert {k: info.shape for k, info in ours.tensors.items()} == official
