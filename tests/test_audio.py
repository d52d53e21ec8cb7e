"""The audio path: mel front-end, audio VAE and vocoders against ltx-core and librosa, the timing
arithmetic, WAV I/O, loading and the errors a user meets."""

import json
import math
from pathlib import Path

import pytest
import torch
from util import failed_rows, needs_1_2, rewrite

from ltx import CheckpointError, ConfigError
from ltx.audio import (
    audio_token_count,
    decode_audio,
    decoded_mel_frames,
    encode_audio,
    latent_tokens,
    load_audio_decoder,
    load_audio_encoder,
    load_vocoder,
    mel_frames,
    read_wav,
    resample,
    waveform_to_mel,
    write_wav,
)
from ltx.audio.timing import token_seconds
from ltx.audio.vae import AudioDecoder, AudioEncoder
from ltx.audio.vocoder import build_vocoder
from ltx.config import AUDIO_VAE_PRESETS, VOCODER_PRESETS, AudioVAEConfig, GeneratorConfig, VocoderConfig
from ltx.parity.audio import audio_parity, librosa_mel, mel_parity, tone_clip
from ltx.parity.file_fixtures import SPLIT_FILES
from ltx.parity.fixtures import write_tiny_checkpoint
from ltx.parity.oracle import OfficialAudio

MANIFESTS = Path(__file__).resolve().parent.parent / "weights" / "manifests"
AUDIO = ("ltx-2.0-tiny", "ltx-2.3-tiny", "ltx-2.5-audio-vae-tiny")


@pytest.fixture(scope="module")
def files(tiny, tmp_path_factory):
    """The tiny single files and the tiny LTX-2.5 audio VAE file (split layout: audio VAE + BWE vocoder)."""
    folder = tmp_path_factory.mktemp("split")
    return {**tiny, **{n: write_tiny_checkpoint(s, folder / f"{n}.safetensors") for n, s in SPLIT_FILES.items()}}


@pytest.mark.oracle
# -- parity ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", AUDIO)
def test_audio_vae_and_vocoder_fp32_bitwise(files, name):
    rows = audio_parity(files[name])
    assert len(rows) == {"ltx-2.0-tiny": 44, "ltx-2.3-tiny": 53, "ltx-2.5-audio-vae-tiny": 50}[name]
    assert all(r.passed and r.max_abs == 0.0 for r in rows), [r for r in rows if r.max_abs]


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["ltx-2.3-tiny", "ltx-2.5-audio-vae-tiny"])
@needs_1_2
def test_audio_bf16_within_twice_official_error(files, name):
    rows = audio_parity(files[name], dtype=torch.bfloat16)
    assert rows and all(r.passed for r in rows), [r for r in rows if not r.passed]
    # The BWE vocoder computes in float32 on both sides (bf16-rounded weights): the same error, bit for bit.
    vocoder = [r for r in rows if r.name.startswith("vocoder/")]
    assert vocoder and all(r.rel == r.ref_rel for r in vocoder)


@pytest.mark.oracle
@needs_1_2
def test_bwe_vocoder_computes_in_float32_in_a_bf16_run(files):
    """ltx-core >= 1.1 runs the BWE vocoder under a float32 autocast: bf16 weights upcast per operation,
    output rounded to the input's dtype. Ours holds the bf16-rounded weights in float32 and equals it
    bitwise; with bwe_in_float32=False it computes in bf16, as ltx-core 1.0.0 did (proven bitwise against 1.0.0 by
    scripts/check_vocoder_precision.py)."""
    path = files["ltx-2.5-audio-vae-tiny"]
    mel = (torch.randn(2, 2, 9, 64, generator=torch.Generator().manual_seed(1)) * 2 - 4).to(torch.bfloat16)
    official = OfficialAudio(path, torch.device("cpu"), torch.bfloat16).vocoder
    with torch.no_grad():
        ref = official(mel)
    ours = load_vocoder(path, dtype=torch.bfloat16)
    assert {p.dtype for p in ours.parameters()} == {torch.float32}
    with torch.no_grad():
        got = ours(mel)
        old = load_vocoder(path, dtype=torch.bfloat16, bwe_in_float32=False)(mel)
    assert got.dtype == ref.dtype == torch.bfloat16 and torch.equal(got, ref)
    assert not torch.equal(old, got)


@pytest.mark.oracle
def test_a_wrong_vocoder_weight_fails_downstream_only(tiny):
    def edit(encoder, decoder, vocoder):
        vocoder.bwe_generator.ups[1].bias.data[0] += 1e-3

    failed = failed_rows(audio_parity(tiny["ltx-2.3-tiny"], edit_ours=edit))
    assert not any(n.startswith(("encode/", "decode/")) for n in failed)
    assert {"vocoder/vocoder.conv_post", "vocoder/mel_stft.stft_fn", "vocoder/bwe_generator.ups.0"}.isdisjoint(failed)
    assert {"vocoder/bwe_generator.ups.1", "vocoder/bwe_generator.conv_post", "vocoder/out"} <= failed


@pytest.mark.oracle
def test_a_wrong_statistic_fails_only_where_it_is_read(tiny):
    def edit(encoder, decoder, vocoder):
        encoder.per_channel_statistics.get_buffer("std-of-means")[5] *= 1.001

    assert failed_rows(audio_parity(tiny["ltx-2.0-tiny"], edit_ours=edit)) == {"encode/out"}


def test_mel_matches_librosa():
    rows = mel_parity()
    assert [r.name for r in rows if "librosa" in r.name] == ["vs librosa/16k"]
    assert all(r.passed for r in rows) and rows[0].rel < 1e-5


def test_mel_comparison_would_catch_a_wrong_filterbank():
    clip = tone_clip(0.5, 16000)
    ours, ref = waveform_to_mel(clip, 16000), librosa_mel(clip)
    assert (ours - ref).norm() / ref.norm() < 1e-5
    mel = torch.log(torch.clamp(torch.exp(ours) * 1.0001, min=1e-5))  # a 0.01% gain error
    assert (mel - ref).norm() / ref.norm() > 1e-5


@pytest.mark.parametrize("preset", list(AUDIO_VAE_PRESETS))
def test_full_size_audio_vae_matches_official_manifest(preset):
    manifest = json.loads((MANIFESTS / f"{preset}.audio_vae.json").read_text())
    cfg = AUDIO_VAE_PRESETS[preset]
    ours, params = {}, {}
    with torch.device("meta"):
        for part, cls in (("encoder", AudioEncoder), ("decoder", AudioDecoder)):
            module = cls(cfg)
            for k, t in module.state_dict().items():
                key = f"audio_vae.{k}" if k.startswith("per_channel_statistics.") else f"audio_vae.{part}.{k}"
                ours[key] = list(t.shape)
            params[part] = sum(p.numel() for p in module.parameters())
    assert ours == {k: v[0] for k, v in manifest["tensors"].items()}
    assert params == manifest["parameters"] == {"encoder": 21_333_008, "decoder": 31_915_138}


@pytest.mark.parametrize("preset, params", [("ltx-2", 55_592_802), ("ltx-2.3", 128_537_448)])
def test_full_size_vocoders_match_official_manifest(preset, params):
    manifest = json.loads((MANIFESTS / f"{preset}.vocoder.json").read_text())
    with torch.device("meta"):
        module = build_vocoder(VOCODER_PRESETS[preset])
    ours = {"vocoder." + k: list(t.shape) for k, t in module.state_dict().items()}
    assert ours == {k: v[0] for k, v in manifest["tensors"].items()}
    assert sum(p.numel() for p in module.parameters()) == manifest["parameters"] == params


# -- front-end behaviour --------------------------------------------------------------------------
def test_mono_is_upmixed_and_layout_is_stereo():
    mono = tone_clip(0.5, 16000)[:, :1]
    mel = waveform_to_mel(mono, 16000)
    assert mel.shape == (1, 2, mel_frames(8000), 64) and torch.equal(mel[:, 0], mel[:, 1])
    assert torch.equal(waveform_to_mel(mono[0], 16000), mel)  # (channels, samples) works too


def test_silence_is_the_log_floor():
    mel = waveform_to_mel(torch.zeros(2, 16000), 16000)
    assert torch.allclose(mel, torch.full_like(mel, math.log(1e-5)))


@pytest.mark.parametrize(
    "audio, rate, message",
    [
        (torch.zeros(2, 0), 16000, "empty"),
        (torch.zeros(2, 512), 16000, "too short: 512 samples"),
        (torch.zeros(2, 1400), 44100, "too short: 508 samples"),  # short after resampling
        (torch.zeros(3, 16000), 16000, "3 channels"),
        (torch.zeros(1, 1, 2, 16000), 16000, "must be"),
        (torch.zeros(2, 16000, dtype=torch.int16), 16000, "floating point"),
        (torch.tensor([[0.0, math.nan] * 1000] * 2), 16000, "NaN"),
        (torch.zeros(2, 16000), 0, "positive integers"),
        (torch.zeros(2, 16000), 22050.5, "positive integers"),
    ],
)
def test_front_end_errors(audio, rate, message):
    with pytest.raises(ValueError, match=message):
        waveform_to_mel(audio, rate)


@pytest.mark.parametrize("orig, new", [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000)])
def test_resampling_keeps_a_tone_and_the_length_rule(orig, new):
    seconds, freq = 0.5, 1000.0
    t = torch.arange(int(seconds * orig), dtype=torch.float64) / orig
    y = resample(torch.sin(2 * math.pi * freq * t), orig, new)
    assert y.shape[-1] == math.ceil(new * t.numel() / orig)
    expected = torch.sin(2 * math.pi * freq * torch.arange(y.shape[-1], dtype=torch.float64) / new)
    middle = slice(y.shape[-1] // 8, -y.shape[-1] // 8)  # away from the zero-padded edges
    assert (y[middle] - expected[middle]).abs().max() < 2e-3


def test_resampling_removes_what_the_new_rate_cannot_hold():
    t = torch.arange(48000, dtype=torch.float64) / 48000
    y = resample(torch.sin(2 * math.pi * 12000 * t), 48000, 16000)  # above 8 kHz Nyquist
    assert y[2000:-2000].abs().max() < 1e-2


# -- timing ---------------------------------------------------------------------------------------
def test_timing_arithmetic():
    assert audio_token_count(121, 24.0) == 126
    assert audio_token_count(121, 25.0) == 121 and audio_token_count(1, 24.0) == 1
    assert decoded_mel_frames(126) == 501 and decoded_mel_frames(1) == 1
    assert mel_frames(16000) == 101
    assert latent_tokens(mel_frames(16000)) == 26 and latent_tokens(decoded_mel_frames(126)) == 126
    assert token_seconds(0) == (0.0, 0.01) and token_seconds(1) == (0.01, 0.05)


@pytest.mark.oracle
@pytest.mark.parametrize(
    "name, hop, rate",
    [("ltx-2.0-tiny", 240, 24000), ("ltx-2.3-tiny", 480, 48000), ("ltx-2.5-audio-vae-tiny", 480, 48000)],
)
def test_round_trip_shapes_follow_the_timing(files, name, hop, rate):
    encoder, decoder = load_audio_encoder(files[name]), load_audio_decoder(files[name])
    vocoder = load_vocoder(files[name])
    clip = tone_clip(0.41, 44100)
    latent = encode_audio(encoder, clip, 44100)
    frames = mel_frames(math.ceil(16000 * clip.shape[-1] / 44100))
    assert latent.shape == (1, 8, latent_tokens(frames), 16)
    wave, out_rate = decode_audio(decoder, vocoder, latent)
    assert out_rate == rate and wave.shape == (1, 2, decoded_mel_frames(latent.shape[2]) * hop)
    assert wave.abs().max() <= 1


# -- WAV ------------------------------------------------------------------------------------------
def test_wav_round_trip(tmp_path):
    clip = tone_clip(0.2, 24000)[0]
    write_wav(tmp_path / "a.wav", clip, 24000)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 24000 and back.shape == clip.shape and (back - clip).abs().max() < 1 / 2**15 + 1e-6
    write_wav(tmp_path / "b.wav", clip.unsqueeze(0), 24000)  # (1, channels, samples) too
    assert torch.equal(read_wav(tmp_path / "b.wav")[0], back)


def test_wav_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="not an audio file"):
        read_wav(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match=r"\(channels, samples\)"):
        write_wav(tmp_path / "c.wav", torch.zeros(2, 2, 100), 24000)


@pytest.mark.oracle
# -- loading --------------------------------------------------------------------------------------
def test_loading_errors(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="holds a transformer-only file .*expects an audio VAE file"):
        load_audio_encoder(tiny["ltx-2.0-video-only-tiny"])
    with pytest.raises(CheckpointError, match="holds a transformer-only file .*expects a vocoder file"):
        load_vocoder(tiny["ltx-2.0-fp8-cast-tiny"])
    path = tiny["ltx-2.3-tiny"]
    with pytest.raises(CheckpointError, match="no 'config' metadata"):
        load_vocoder(rewrite(path, tmp_path / "nometa.safetensors", metadata={}))
    missing = rewrite(path, tmp_path / "missing.safetensors", lambda t: t.pop("audio_vae.decoder.conv_in.conv.bias"))
    with pytest.raises(CheckpointError, match="conv_in.conv.bias"):
        load_audio_decoder(missing)
    load_audio_encoder(missing)  # the encoder does not need the decoder's keys
    basis = "vocoder.mel_stft.mel_basis"
    with pytest.raises(CheckpointError, match="mel_basis"):
        load_vocoder(rewrite(path, tmp_path / "nobasis.safetensors", lambda t: t.pop(basis)))
    shaped = rewrite(path, tmp_path / "shape.safetensors", lambda t: t.update({basis: t[basis][:, :-1].contiguous()}))
    with pytest.raises(CheckpointError, match="mel_basis"):
        load_vocoder(shaped)


@pytest.mark.oracle
def test_vocoder_filters_are_constants_the_file_may_omit(tiny, tmp_path):
    path = tiny["ltx-2.3-tiny"]
    full = load_vocoder(path)
    no_filters = rewrite(path, tmp_path / "nofilters.safetensors",
                         lambda t: [t.pop(k) for k in [k for k in t if k.endswith(".filter")]])  # fmt: skip
    mel = torch.randn(1, 2, 6, 64) - 4
    assert torch.equal(load_vocoder(no_filters)(mel), full(mel))


def test_config_errors():
    with pytest.raises(ConfigError, match="norm_type"):
        AudioVAEConfig(norm_type="batch")
    with pytest.raises(ConfigError, match="GroupNorm"):
        AudioVAEConfig(norm_type="group")
    with pytest.raises(ConfigError, match="must equal z_channels"):
        AudioVAEConfig(ch=64)
    with pytest.raises(ConfigError, match="resblock"):
        GeneratorConfig(resblock="2")
    with pytest.raises(ConfigError, match="differ in length"):
        GeneratorConfig(upsample_rates=(6, 5))
    with pytest.raises(ConfigError, match="must use resblock '1'"):
        VocoderConfig.from_metadata({"resblock": "AMP1"})
    with pytest.raises(ConfigError, match="AMP1 with snakebeta"):
        VocoderConfig.from_metadata({"vocoder": {"resblock": "1"}, "bwe": {}})
    with pytest.raises(ConfigError, match="lacks"):
        VocoderConfig.from_metadata({"vocoder": {"resblock": "AMP1", "activation": "snakebeta"},
                                     "bwe": {"resblock": "AMP1", "activation": "snakebeta"}})  # fmt: skip
    with pytest.raises(ConfigError, match="stereo"):
        VocoderConfig.from_metadata({"stereo": False})
    for cfg in VOCODER_PRESETS.values():
        assert VocoderConfig.from_metadata(cfg.to_metadata()) == cfg
    for cfg in AUDIO_VAE_PRESETS.values():
        assert AudioVAEConfig.from_metadata(cfg.to_metadata()) == cfg
