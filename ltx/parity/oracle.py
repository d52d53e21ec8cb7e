"""The official implementation as a test oracle: ltx-core 1.2.0 (or the 1.0.0 on PyPI), loading files through
its own loader.

Nothing here is used by the model; only `ltx parity` and the tests import it.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext

import torch

from ltx.dit.inputs import Perturbation, Stream

_INSTALL_HINT = (
    "the parity check needs the official packages as an oracle: bash scripts/install.sh installs them "
    "(ltx-core/ltx-pipelines 1.2.0 from ../shared/oracle, else 1.0.0 from PyPI, with --no-deps)"
)


def pin_cpu_blas() -> None:
    """Make MKL's float32 GEMMs independent of their operands' memory alignment (its conditional numerical
    reproducibility, strict), unless MKL_CBWR is set already. On AVX-512 CPUs two products of equal tensors
    were measured 1 ulp apart when one weight sat at another address, so ours and the official model could
    not compare bitwise in one process. MKL reads the setting at its first call: call this before any work."""
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")


_OFFICIAL_SKIP = {
    "video_self_attn": "SKIP_VIDEO_SELF_ATTN",
    "audio_self_attn": "SKIP_AUDIO_SELF_ATTN",
    "a2v": "SKIP_A2V_CROSS_ATTN",
    "v2a": "SKIP_V2A_CROSS_ATTN",
}


def require(module: str):
    try:
        if module.startswith("ltx_video"):  # diffusers' ModelMixin logs a warning on every .to(dtype)
            importlib.import_module("diffusers").utils.logging.set_verbosity_error()
        if module.startswith(("ltx_pipelines", "ltx_core.model.audio_vae")):  # both import torchaudio
            ensure_torchaudio()
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeError(f"{_INSTALL_HINT} ({e})") from None


def oracle_version() -> str | None:
    """The installed ltx-core version ("1.2.0", "1.0.0", ...), or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ltx-core")
    except PackageNotFoundError:
        return None


def at_least(wanted: str) -> bool:
    """Whether the installed ltx-core is `wanted` or newer."""
    have = oracle_version()
    as_tuple = lambda v: tuple(int(p) for p in v.split(".")[:3])  # noqa: E731
    return have is not None and as_tuple(have) >= as_tuple(wanted)


def official_module(configurator, config: dict) -> torch.nn.Module:
    """An official module from its configurator and a file's `config` dict: 1.2.0 takes the whole
    metadata (`from_metadata({"config": ...})`), 1.0.0 the config (`from_config`)."""
    if hasattr(configurator, "from_metadata"):
        return configurator.from_metadata({"config": config})
    return configurator.from_config(config)


def build(path, configurator, sd_ops, device: torch.device, dtype: torch.dtype, module_ops=()) -> torch.nn.Module:
    """A model built by ltx-core's SingleGPUModelBuilder, as its ModelLedger builds each component.
    The builder warns and returns a half-built model when keys are missing; we refuse one."""
    builder = require("ltx_core.loader.single_gpu_model_builder").SingleGPUModelBuilder
    extra = {"module_ops": tuple(module_ops)} if module_ops else {}
    model = builder(model_path=str(path), model_class_configurator=configurator, model_sd_ops=sd_ops, **extra)
    model = model.build(device=device, dtype=dtype).eval()
    embedding = getattr(model, "keyframes_abs_pos_embedding", None)
    if embedding is not None and embedding.is_meta:
        # a 2.5 config that switches the keyframe vector on in a file without it: the official pipelines
        # make it a zero vector (LTXModel.enable_keyframes_abs_pos_embedding) before the first forward
        model.enable_keyframes_abs_pos_embedding()
    left = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
    if left:
        raise RuntimeError(f"ltx-core left {len(left)} tensors unloaded, e.g. {left[:5]}")
    return model


def check_av_modulation(av_modulation: str) -> None:
    """The installed oracle computes "own-timesteps" from ltx-core 1.1.4 on (and "other-sigma" with one method
    reverted, see `_other_sigma_rule`); 1.0.0 computes "other-sigma" only."""
    if av_modulation == "own-timesteps" and not at_least("1.1.4"):
        raise RuntimeError(
            f"the A/V modulation rule 'own-timesteps' needs ltx-core >= 1.1.4 as the oracle; ltx-core "
            f"{oracle_version()} is installed: check 'other-sigma' (--av-modulation other-sigma) or install 1.2.0"
        )


@contextmanager
def _other_sigma_rule():
    """ltx-core >= 1.1.4 with the A/V cross-attention scale/shift AdaLN fed the other modality's sigma, as
    1.0.0 fed it (the only change to the transformer's arithmetic between them)."""
    cls = require("ltx_core.model.transformer.transformer_args").MultiModalTransformerArgsPreprocessor
    newest = cls._prepare_cross_attention_timestep

    def old_rule(self, modality_timesteps, cross_modality_sigma, timestep_scale_multiplier, batch_size, hidden_dtype):
        sigma = cross_modality_sigma.reshape(-1).expand(batch_size).reshape(batch_size, 1)
        return newest(self, sigma, cross_modality_sigma, timestep_scale_multiplier, batch_size, hidden_dtype)

    cls._prepare_cross_attention_timestep = old_rule
    try:
        yield
    finally:
        cls._prepare_cross_attention_timestep = newest


def _has_fp8(path) -> bool:
    from ltx.checkpoint import FP8_DTYPES, Checkpoint

    return any(t.dtype in FP8_DTYPES for t in Checkpoint(path).tensors.values())


class OfficialTransformer:
    """ltx-core's LTXModel built by SingleGPUModelBuilder exactly as its ModelLedger does it, computing the
    A/V modulation rule `av_modulation` (see `check_av_modulation`)."""

    def __init__(
        self,
        path: str | os.PathLike,
        device: torch.device,
        dtype: torch.dtype,
        has_audio: bool,
        av_modulation: str = "own-timesteps",
        audio_only: bool = False,
    ):
        check_av_modulation(av_modulation)
        tmod = require("ltx_core.model.transformer")
        configurator = tmod.LTXModelConfigurator if has_audio else tmod.LTXVideoOnlyModelConfigurator
        sd_ops, module_ops = tmod.LTXV_MODEL_COMFY_RENAMING_MAP, ()
        if audio_only:  # ltx-core >= 1.1: the audio stream alone, its keys picked from the audio-video file
            configurator, sd_ops = tmod.LTXAudioOnlyModelConfigurator, tmod.LTXV_AUDIO_ONLY_MODEL_COMFY_RENAMING_MAP
        if at_least("1.1.0") and _has_fp8(path):
            # fp8-cast files through the official `fp8-cast` quantization policy, as ltx-pipelines chains it:
            # fp8 weights kept, upcast to the activation dtype in each forward
            policy = require("ltx_core.quantization.fp8_cast").build_policy(path)
            sd_ops = type(sd_ops)(
                name=f"{sd_ops.name}+{policy.sd_ops.name}", mapping=(*sd_ops.mapping, *policy.sd_ops.mapping)
            )
            module_ops = policy.module_ops
        # (1.0.0's builder casts fp8 weights to `dtype` at load: the same arithmetic as upcasting at run time)
        self.model = build(path, configurator, sd_ops, device, dtype, module_ops)
        self.dtype = dtype
        self.revert = av_modulation == "other-sigma" and at_least("1.1.4")

    @property
    def blocks(self) -> Sequence[torch.nn.Module]:
        return self.model.transformer_blocks

    def __call__(self, video: Stream | None, audio: Stream | None, perturbations: Sequence[Perturbation]):
        batch = (video or audio).latent.shape[0]
        with torch.no_grad(), _other_sigma_rule() if self.revert else nullcontext():
            return self.model(
                video=None if video is None else modality(video),
                audio=None if audio is None else modality(audio),
                perturbations=official_perturbations(
                    perturbations, batch, len(self.blocks), (video or audio).latent.device, self.dtype
                ),
            )


def modality(s: Stream):
    """Our Stream as ltx-core's Modality (timesteps (B, T, 1), as its pipelines build them)."""
    Modality = require("ltx_core.model.transformer.modality").Modality
    timesteps = s.timesteps if s.timesteps.ndim == 3 else s.timesteps.unsqueeze(-1)
    return Modality(
        latent=s.latent,
        sigma=torch.as_tensor(s.sigma),
        timesteps=timesteps,
        positions=s.positions,
        context=s.context,
        enabled=s.enabled,
        context_mask=s.context_mask,
        attention_mask=s.attention_mask,
        **({} if s.keyframes_mask is None else {"keyframes_mask": s.keyframes_mask.reshape(*timesteps.shape)}),
    )


def official_perturbations(
    perturbations: Sequence[Perturbation], batch: int, num_blocks: int, device=None, dtype: torch.dtype | None = None
):
    """ltx-core's per-sample perturbation configs; 1.2.0 also precomputes per-block masks for `num_blocks`
    blocks on `device` in `dtype`, as its denoisers build them."""
    p = require("ltx_core.guidance.perturbations")
    per_sample = []
    for i in range(batch):
        items = [
            p.Perturbation(
                type=p.PerturbationType[_OFFICIAL_SKIP[q.skip]], blocks=None if q.blocks is None else list(q.blocks)
            )
            for q in perturbations
            if q.samples is None or i in q.samples
        ]
        per_sample.append(p.PerturbationConfig(items))
    if "num_blocks" in inspect.signature(p.BatchedPerturbationConfig).parameters:
        return p.BatchedPerturbationConfig(per_sample, num_blocks=num_blocks, device=device, dtype=dtype)
    return p.BatchedPerturbationConfig(per_sample)


def official_positions(frames: int, height: int, width: int, fps: float, audio_tokens: int, batch: int):
    """Video and audio token positions as ltx-core's latent tools build them (latent sizes in)."""
    tools = require("ltx_core.tools")
    patchifiers = require("ltx_core.components.patchifiers")
    types = require("ltx_core.types")
    video_shape = types.VideoLatentShape(batch=batch, channels=128, frames=frames, height=height, width=width)
    video = tools.VideoLatentTools(patchifiers.VideoLatentPatchifier(patch_size=1), video_shape, fps)
    audio_shape = types.AudioLatentShape(batch=batch, channels=8, frames=audio_tokens, mel_bins=16)
    audio = tools.AudioLatentTools(patchifiers.AudioPatchifier(patch_size=1), audio_shape)
    cpu = torch.device("cpu")
    return (
        video.create_initial_state(cpu, torch.float32).positions,
        audio.create_initial_state(cpu, torch.float32).positions,
    )


# The official video VAE, upsamplers and duration head: ltx/parity/vae_oracle.py.


def ensure_torchaudio() -> bool:
    """Make `import torchaudio` work for ltx-core's audio package, which imports it at module level.
    Returns True when the real torchaudio is there; otherwise registers an empty stand-in (with a
    module spec, so feature probes do not break) whose use raises. Only the official front-end
    (AudioProcessor) needs the real one."""
    import importlib.machinery
    import sys
    import types

    if "torchaudio" in sys.modules:
        return not getattr(sys.modules["torchaudio"], "_ltx_stub", False)
    try:
        importlib.import_module("torchaudio")
        return True
    except Exception:  # noqa: BLE001 - absent, or a build that does not load with this torch
        sys.modules.pop("torchaudio", None)

    def unavailable(*args, **kwargs):
        raise RuntimeError("torchaudio is not available here; the official audio front-end cannot run")

    stub = types.ModuleType("torchaudio")
    stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    stub._ltx_stub = True
    stub.transforms = types.SimpleNamespace(MelSpectrogram=unavailable)
    stub.functional = types.SimpleNamespace(resample=unavailable)
    sys.modules["torchaudio"] = stub
    return False


class OfficialAudio:
    """ltx-core's AudioEncoder, AudioDecoder and Vocoder (or VocoderWithBWE) of a file, built by its
    SingleGPUModelBuilder with its key filters, as its ModelLedger builds them."""

    def __init__(self, path: str | os.PathLike, device: torch.device, dtype: torch.dtype):
        ensure_torchaudio()
        audio = require("ltx_core.model.audio_vae")
        self.encoder = build(
            path, audio.AudioEncoderConfigurator, audio.AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, device, dtype
        )
        self.decoder = build(
            path, audio.AudioDecoderConfigurator, audio.AUDIO_VAE_DECODER_COMFY_KEYS_FILTER, device, dtype
        )
        self.vocoder = build(path, audio.VocoderConfigurator, audio.VOCODER_COMFY_KEYS_FILTER, device, dtype)
        if isinstance(self.vocoder, audio.VocoderWithBWE) and at_least("1.1.0") and device.type != "cuda":
            # 1.2.0 runs this vocoder under a float32 autocast, which on CUDA upcasts the `dtype` weights
            # per operation; off CUDA that autocast is disabled and non-float32 weights raise. Upcasting the
            # built (`dtype`-rounded) weights is the same arithmetic (its own MPS path does exactly this).
            self.vocoder = self.vocoder.float()


def official_mel(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor | None:
    """ltx-core's AudioProcessor log-mel (B, 2, frames, 64), or None without a working torchaudio."""
    if not ensure_torchaudio():
        return None
    ops = require("ltx_core.model.audio_vae.ops")
    types = require("ltx_core.types")
    processor = ops.AudioProcessor(target_sample_rate=16000, mel_bins=64, mel_hop_length=160, n_fft=1024)
    return processor.to(waveform.device).waveform_to_mel(types.Audio(waveform=waveform, sampling_rate=sample_rate))


def official_text_processor_module(config: dict, gemma_hidden: int, gemma_layers: int) -> torch.nn.Module:
    """ltx-core's EmbeddingsProcessor (feature extractor + connectors) for `config`. ltx-core sizes the
    feature extractor for Gemma-3-12B; its classes take any size, so a tiny Gemma's gets its own."""
    fe = require("ltx_core.text_encoders.gemma.feature_extractor")
    conn = require("ltx_core.text_encoders.gemma.embeddings_connector")
    processor = require("ltx_core.text_encoders.gemma.embeddings_processor").EmbeddingsProcessor
    t, flat = config["transformer"], gemma_hidden * (gemma_layers + 1)
    if t.get("caption_proj_before_connector"):  # LTX-2.3 (V2; ltx-core also checks the other three keys)
        video_dim = t["num_attention_heads"] * t["attention_head_dim"]
        audio_dim = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
        extractor = fe.FeatureExtractorV2(
            torch.nn.Linear(flat, video_dim), gemma_hidden, torch.nn.Linear(flat, audio_dim)
        )
    else:
        extractor = fe.FeatureExtractorV1(torch.nn.Linear(flat, gemma_hidden, bias=False), is_av=True)
    return processor(
        feature_extractor=extractor,
        video_connector=official_module(conn.Embeddings1DConnectorConfigurator, config),
        audio_connector=official_module(conn.AudioEmbeddings1DConnectorConfigurator, config),
    )


def official_t5_encode(folder, prompts: Sequence[str], device, dtype, max_length: int):
    """ltx-video's LTXVideoPipeline.encode_prompt with transformers' T5Tokenizer and T5EncoderModel
    loaded as its inference script loads them (text_encoder/ and tokenizer/ subfolders)."""
    pipeline = require("ltx_video.pipelines.pipeline_ltx_video").LTXVideoPipeline
    from transformers import T5EncoderModel, T5Tokenizer

    class Host:  # what encode_prompt reads of the pipeline
        tokenizer = T5Tokenizer.from_pretrained(str(folder), subfolder="tokenizer", local_files_only=True)
        text_encoder = T5EncoderModel.from_pretrained(str(folder), subfolder="text_encoder", dtype=dtype).to(device)
        transformer, _execution_device = None, device
        _text_preprocessing = pipeline._text_preprocessing

    host = Host()
    with torch.no_grad():
        embeds, mask, _, _ = pipeline.encode_prompt(
            host, list(prompts), do_classifier_free_guidance=False, device=device, text_encoder_max_tokens=max_length
        )
    ids = host.tokenizer(list(p.strip() for p in prompts), padding="max_length", max_length=max_length,
                         truncation=True, return_tensors="pt").input_ids  # fmt: skip
    return ids, mask, embeds
