"""The audio path: mel front-end, audio VAE, vocoders, WAV I/O, and the timing arithmetic between them."""

from ltx.audio.codec import decode_audio, encode_audio
from ltx.audio.io import read_wav, write_wav
from ltx.audio.loading import audio_vae_config, load_audio_decoder, load_audio_encoder, load_vocoder, vocoder_config
from ltx.audio.mel import log_mel, resample, waveform_to_mel
from ltx.audio.timing import audio_token_count, decoded_mel_frames, latent_tokens, mel_frames, output_samples
from ltx.audio.vae import AudioDecoder, AudioEncoder
from ltx.audio.vocoder import BandwidthExtension, Generator, build_vocoder

__all__ = [
    "AudioDecoder",
    "AudioEncoder",
    "BandwidthExtension",
    "Generator",
    "audio_token_count",
    "audio_vae_config",
    "build_vocoder",
    "decode_audio",
    "decoded_mel_frames",
    "encode_audio",
    "latent_tokens",
    "load_audio_decoder",
    "load_audio_encoder",
    "load_vocoder",
    "log_mel",
    "mel_frames",
    "output_samples",
    "read_wav",
    "resample",
    "vocoder_config",
    "waveform_to_mel",
    "write_wav",
]
