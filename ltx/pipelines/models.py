"""Every model a pipeline needs, loaded when first asked for and released when the pipeline is done
with it (as the official pipelines do, so a 19B generation fits where theirs fits); `keep=True` holds
them for repeated generation instead.

LoRAs are checked against the checkpoint when `Models` is made (a layer that matches nothing is an
error) and fused into the transformer and the text side as they load.

A memory budget (`gpu_memory` GiB) or an `offload` source ("cpu": pinned host memory, "disk": the checkpoint's
memory map) streams the transformer's blocks (ltx.offload): with a budget, as many blocks stay on the GPU as fit
beside the run's activations (`plan_for` sizes them from the request) and the rest stream; with `offload` alone
every block streams, as the official `--offload` does. The streamed model computes bitwise what the resident one
computes.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import torch

from ltx.checkpoint import TRANSFORMER_PREFIX, Checkpoint, CheckpointError
from ltx.config.vae import DIFFUSION_VAE
from ltx.files import expect
from ltx.lora import LoRA, fuse_loras, load_lora
from ltx.text.processor import PromptEmbeddings


def _layers(ckpt: Checkpoint, component: str, strip_prefix: bool) -> set[str]:
    keys = ckpt.components.get(component, [])
    names = {k[: -len(".weight")] for k in keys if k.endswith(".weight")}
    return {n[len(TRANSFORMER_PREFIX) :] if strip_prefix and n.startswith(TRANSFORMER_PREFIX) else n for n in names}


COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def compute_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A dtype the models compute in (a torch dtype or its name); float8 and the rest are refused by name."""
    if isinstance(dtype, str):
        if dtype.removeprefix("torch.") not in COMPUTE_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(COMPUTE_DTYPES)}, got {dtype!r}")
        return COMPUTE_DTYPES[dtype.removeprefix("torch.")]
    if dtype not in COMPUTE_DTYPES.values():
        raise ValueError(f"dtype must be one of torch.bfloat16 / float16 / float32 (float8 files load with float8 "
                         f"weights and compute in one of these), got {dtype!r}")  # fmt: skip
    return dtype


class Models:
    def __init__(
        self,
        checkpoint: str | os.PathLike,
        *,
        gemma: str | os.PathLike | None = None,
        prompts: str | os.PathLike | None = None,
        upsampler: str | os.PathLike | None = None,
        loras: list[tuple[str | os.PathLike, float]] = (),
        distilled_lora: tuple[str | os.PathLike, float] | None = None,
        detailing_lora: tuple[str | os.PathLike, float] | None = None,
        temporal_upsampler: str | os.PathLike | None = None,
        duration_head: str | os.PathLike | None = None,
        video_vae: str | os.PathLike | None = None,
        audio_vae: str | os.PathLike | None = None,
        av_modulation: str = "own-timesteps",
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.bfloat16,
        keep: bool = False,
        accelerate: bool = False,
        gpu_memory: float | None = None,
        offload: str | None = None,
        parallel=None,
    ):
        self.ckpt = expect(checkpoint, "transformer")  # a single-file checkpoint or LTX-2.5's transformer file
        # LTX-2.5 ships one file per component: the VAEs may come from their own files (default: the checkpoint)
        self.video_vae = expect(video_vae, "video_vae") if video_vae else self.ckpt
        self.audio_vae = expect(audio_vae, "audio_vae") if audio_vae else self.ckpt
        self.av_modulation = av_modulation
        if gemma is None and prompts is None:
            raise ValueError(
                "give a Gemma-3 folder (gemma=...) or a prompt-embeddings file from `ltx encode` (prompts=...)"
            )
        self.gemma, self.prompt_file = gemma, prompts
        self.upsampler_path = Path(upsampler) if upsampler else None
        self.temporal_upsampler_path = Path(temporal_upsampler) if temporal_upsampler else None
        self.duration_head_path = Path(duration_head) if duration_head else None
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asked for, but torch sees no CUDA device; use device='cpu'")
        self.dtype, self.keep = compute_dtype(dtype), keep
        self.accelerate = accelerate  # compile the transformer's blocks and replay their loop from CUDA graphs
        if gpu_memory is not None and not gpu_memory > 0:
            raise ValueError(f"gpu_memory is a budget in GiB: give a positive number, got {gpu_memory}")
        if offload not in (None, "cpu", "disk"):
            raise ValueError(f"offload must be 'cpu' or 'disk' (or None), got {offload!r}")
        if (gpu_memory is not None or offload) and accelerate:
            raise ValueError("streamed weights and accelerate=True do not go together: a CUDA graph holds fixed "
                             "weights; drop one")  # fmt: skip
        self.gpu_memory, self.offload = gpu_memory, offload
        self.parallel = parallel  # ltx.parallel.Groups: the transformer run by several processes
        if parallel is not None and (gpu_memory is not None or offload is not None):
            raise ValueError("parallel runs keep the whole transformer on each device: leave out gpu_memory / offload")
        if parallel is not None and accelerate:
            raise ValueError("parallel runs are not compiled / captured yet (their collectives are untested inside "
                             "CUDA graphs): leave out accelerate (--compile)")  # fmt: skip
        self.working_bytes = 0  # the activations of the largest call, from plan_for
        self.streamers: dict[str, object] = {}  # transformer variant -> its BlockStreamer (tests and benches read it)
        self.plans: dict[str, object] = {}  # transformer variant -> its streaming plan
        self.loras = [load_lora(p, s) for p, s in loras]
        self.distilled_lora = load_lora(*distilled_lora) if distilled_lora else None
        self.detailing_lora = load_lora(*detailing_lora) if detailing_lora else None  # DFR's stage-2 IC-LoRA
        self._transformer_layers = _layers(self.ckpt, "transformer", True)
        text = _layers(self.ckpt, "text_projection", False) | _layers(self.ckpt, "text_connectors", True)
        # LoRA layer name -> TextProcessor module name (video-only files call the connector embeddings_connector)
        self._text_layers = {n: "video_" + n if n.startswith("embeddings_connector.") else n for n in text}
        for lora in [*self.loras, *(x for x in (self.distilled_lora, self.detailing_lora) if x)]:
            unmatched = sorted(set(lora.pairs) - self._transformer_layers - set(self._text_layers))
            if unmatched:
                raise CheckpointError(
                    f"{lora.path}: {len(unmatched)} LoRA layers match no layer of {self.ckpt.path.name} "
                    f"(e.g. {', '.join(unmatched[:3])}): the LoRA is for another model"
                )
        self._cache: dict[str, object] = {}
        self._prompts: dict[str, PromptEmbeddings] = {}  # encoded once per Models (auto-duration reads them first)

    @property
    def version(self) -> str:
        return self.ckpt.model_version or "2.0"

    @property
    def has_audio(self) -> bool:
        """Whether the transformer has the audio stream (an audio-video checkpoint)."""
        from ltx.dit.loading import transformer_config

        return transformer_config(self.ckpt).has_audio

    # -- loading and releasing ------------------------------------------------------------------------
    def _get(self, name: str, load):
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    def release(self, *names: str) -> None:
        """Drop these models (unless `keep`), and return their memory."""
        if self.keep:
            return
        for name in names:  # "transformer" releases every transformer variant
            for key in [k for k in self._cache if k == name or k.startswith(name + ":")]:
                del self._cache[key]
                if self.streamers.get(key) is not None:
                    self.streamers[key].close()  # (its counters stay readable)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def transformer(self, lora_strength: float | None = None, user_loras: bool = True, audio_only: bool = False,
                    detailing: bool = False):  # fmt: skip
        """The transformer with the user's LoRAs (unless `user_loras` is False), and the distilled LoRA at
        `lora_strength` if given, then the detailing LoRA if `detailing`; `audio_only`: its audio stream alone
        (text-to-audio)."""
        from ltx.dit import load_transformer

        loras = list(self.loras) if user_loras else []
        if lora_strength is not None:
            if self.distilled_lora is None:
                raise ValueError(
                    "this pipeline's second stage needs the distilled LoRA (distilled_lora=(path, strength))"
                )
            d = self.distilled_lora
            loras.append(LoRA(d.path, lora_strength, d.pairs, d.metadata))
        if detailing:
            if self.detailing_lora is None:
                raise ValueError("this pipeline's detailing stage needs the detailing LoRA (detailing_lora=...)")
            loras.append(self.detailing_lora)

        key = f"transformer:{lora_strength}:{user_loras}:{audio_only}:{detailing}"

        def load():
            # LoRAs are fused into the file's bf16 weights, as the official loader does whatever the run's dtype
            # (so a float32 run computes what a bf16 one does, in float32)
            fuse_in = torch.bfloat16 if loras and self._stores_bf16() else self.dtype
            streaming = self.gpu_memory is not None or self.offload is not None
            model = load_transformer(self.ckpt, device="cpu" if streaming else self.device, dtype=fuse_in,
                                     audio_only=audio_only, av_modulation=self.av_modulation)  # fmt: skip
            if streaming:
                self._stream(key, model, loras, fuse_in)
                return model
            fuse_loras(model, loras, {n: n for n in self._transformer_layers})
            model = model if fuse_in == self.dtype else model.to(self.dtype)
            if self.accelerate:
                from ltx.runtime import accelerate

                accelerate(model)
            if self.parallel is not None:
                from ltx.parallel import Parallel

                return Parallel(model, self.parallel)
            return model

        return self._get(key, load)

    def plan_for(self, frames: int, height: int, width: int, fps: float = 24.0) -> None:
        """Size the transformer's activations for a clip (a streaming plan keeps room for them)."""
        from ltx.offload import working_bytes

        self.working_bytes = working_bytes(frames, height, width, fps, self._inner_dim())
        if self.gpu_memory is not None:
            self._plan(self._meta_transformer())  # a budget the run cannot fit is refused before any work

    def _meta_transformer(self):
        """The transformer on the meta device, with the file's float8 layers (for sizes only)."""
        from ltx.dit import LTX2Transformer
        from ltx.dit.loading import transformer_config, transformer_keys
        from ltx.nn import install_fp8_layers

        stored = {name: self.ckpt.tensors[key].dtype for name, key in transformer_keys(self.ckpt).items()}
        with torch.device("meta"):
            model = LTX2Transformer(transformer_config(self.ckpt))
            install_fp8_layers(model, stored)
        return model

    def _plan(self, model):
        from ltx import offload

        sizes = offload.sizes(model, "transformer_blocks", self.dtype)
        budget = self.gpu_memory * offload.GiB if self.gpu_memory is not None else None
        return offload.plan_or_all(len(model.transformer_blocks), *sizes, self.working_bytes, budget)

    def _inner_dim(self) -> int:
        from ltx.dit.loading import transformer_config

        cfg = transformer_config(self.ckpt)
        return cfg.inner_dim if cfg.has_video else cfg.audio_inner_dim

    def _stream(self, key: str, model, loras: list[LoRA], fuse_in: torch.dtype) -> None:
        """Place `model` (on the CPU) on the device with its blocks streamed (ltx.offload)."""
        from ltx import offload
        from ltx.dit.loading import keep_stored_dtype

        names = self._transformer_layers

        def finalize(module, prefix: str) -> None:
            # the resident model's steps, for this part: LoRA fused on the device, then the run's dtype
            mine = {n[len(prefix) :]: n[len(prefix) :] for n in names
                    if n.startswith(prefix) and (prefix or not n.startswith("transformer_blocks."))}  # fmt: skip
            part = [LoRA(lo.path, lo.strength, {k[len(prefix) :]: v for k, v in lo.pairs.items()
                                                 if k.startswith(prefix)}, lo.metadata) for lo in loras]  # fmt: skip
            fuse_loras(module, part, mine)
            if fuse_in != self.dtype:
                module.to(self.dtype)

        plan = self._plan(model)
        mapping = self.ckpt.new_map()

        def read(i: int) -> dict:
            prefix = f"{TRANSFORMER_PREFIX}transformer_blocks.{i}."
            return {k[len(prefix) :]: self.ckpt.tensor(k, mapping) for k in self.ckpt.tensors if k.startswith(prefix)}

        def load_cast(name: str, t: torch.Tensor) -> torch.Tensor:
            return t.to(fuse_in) if t.is_floating_point() and not keep_stored_dtype(name, t) else t

        self.streamers[key] = offload.stream(model, "transformer_blocks", plan, device=self.device, finalize=finalize,
                                             source=self.offload or "cpu", read=read, load_cast=load_cast)  # fmt: skip
        self.plans[key] = plan

    def _stores_bf16(self) -> bool:
        """Whether the transformer's LoRA-able weights are stored in bf16 (not float32, not float8)."""
        dtypes = {self.ckpt.tensors[TRANSFORMER_PREFIX + n + ".weight"].dtype for n in self._transformer_layers
                  if TRANSFORMER_PREFIX + n + ".weight" in self.ckpt.tensors}  # fmt: skip
        return dtypes == {torch.bfloat16}

    def video_encoder(self):
        from ltx.vae import load_video_encoder

        return self._get(
            "video_encoder", lambda: load_video_encoder(self.video_vae, device=self.device, dtype=self.dtype)
        )

    @property
    def diffusion_decoder(self) -> bool:
        """Whether the video VAE file holds LTX-2.5's diffusion decoder (else the conv decoder)."""
        from ltx.vae import vae_config

        return vae_config(self.video_vae).class_name == DIFFUSION_VAE

    def video_decoder(self):
        """The conv decoder, or LTX-2.5's diffusion decoder when the video VAE file holds one."""
        from ltx.vae import load_diffusion_decoder, load_video_decoder

        load = load_diffusion_decoder if self.diffusion_decoder else load_video_decoder
        return self._get("video_decoder", lambda: load(self.video_vae, device=self.device, dtype=self.dtype))

    def audio_encoder(self):
        from ltx.audio import load_audio_encoder

        return self._get(
            "audio_encoder", lambda: load_audio_encoder(self.audio_vae, device=self.device, dtype=self.dtype)
        )

    def audio_decoder(self):
        from ltx.audio import load_audio_decoder

        return self._get(
            "audio_decoder", lambda: load_audio_decoder(self.audio_vae, device=self.device, dtype=self.dtype)
        )

    def vocoder(self):
        from ltx.audio import load_vocoder

        return self._get("vocoder", lambda: load_vocoder(self.audio_vae, device=self.device, dtype=self.dtype))

    def upsampler(self):
        from ltx.vae import load_latent_upsampler

        if self.upsampler_path is None:
            raise ValueError("this pipeline upsamples the first stage: give the spatial x2 upsampler (upsampler=...)")
        return self._get(
            "upsampler", lambda: load_latent_upsampler(self.upsampler_path, device=self.device, dtype=self.dtype)
        )

    def temporal_upsampler(self):
        """The temporal x2 latent upsampler (DFR's temporal rounds)."""
        from ltx.vae import load_latent_upsampler

        if self.temporal_upsampler_path is None:
            raise ValueError("temporal rounds need the temporal x2 upsampler (temporal_upsampler=...)")
        path = self.temporal_upsampler_path
        return self._get(
            "temporal_upsampler", lambda: load_latent_upsampler(path, device=self.device, dtype=self.dtype)
        )

    def duration_head(self):
        """The LTX-2.5 duration head: from `duration_head=...`, else from the checkpoint if it holds one."""
        from ltx.duration import load_duration_head

        if self.duration_head_path is None and "duration_head" not in self.ckpt.components:
            raise ValueError(
                f"predicting the clip's length needs the LTX-2.5 duration head: {self.ckpt.path.name} holds none; "
                "give its file (duration_head=..., --duration-head FILE) or the number of frames"
            )
        source = self.duration_head_path or self.ckpt
        return self._get("duration_head", lambda: load_duration_head(source, device=self.device, dtype=self.dtype))

    # -- prompts --------------------------------------------------------------------------------------
    def encode(self, prompts: list[str]) -> list[PromptEmbeddings]:
        """Each prompt's contexts (1, T, D), one prompt at a time as the official pipelines encode them;
        from the prompt-embeddings file when one was given. Each prompt is encoded once per `Models`."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._prompts]
        if missing:
            self._prompts.update(zip(missing, self._encode(missing), strict=True))
        return [self._prompts[p] for p in prompts]

    def _encode(self, prompts: list[str]) -> list[PromptEmbeddings]:
        if self.prompt_file is not None:
            return self._from_file(prompts)
        from ltx.text.encoder import TextEncoder

        text = TextEncoder(self.gemma, self.ckpt, device=self.device, dtype=self.dtype, gpu_memory=self.gpu_memory)
        fuse_loras(text.processor, self.loras, self._text_layers)
        out = [text.encode([p]) for p in prompts]
        text.unload_gemma()
        del text
        self.release()
        return out

    def _from_file(self, prompts: list[str]) -> list[PromptEmbeddings]:
        from ltx.text.encoder import load_prompt_embeddings

        cached, texts, _ = load_prompt_embeddings(self.prompt_file, device=self.device, dtype=self.dtype)
        from ltx.dit.loading import transformer_config

        cfg = transformer_config(self.ckpt)
        want = cfg.inner_dim if cfg.caption_proj_before_connector else cfg.caption_channels
        if cfg.has_video and cached.video.shape[-1] != want:
            raise ValueError(f"{self.prompt_file}: its video contexts are {cached.video.shape[-1]} wide, "
                             f"{self.ckpt.path.name} takes {want}: the embeddings were made for another checkpoint; "
                             "encode the prompts with this one (ltx encode --checkpoint ...)")  # fmt: skip
        out = []
        for p in prompts:
            if p not in texts:
                raise ValueError(
                    f"{self.prompt_file} has no embeddings for the prompt {p!r}; it holds {texts}. "
                    f"Encode it with: ltx encode --prompt {p!r} ... (negative prompts too)"
                )
            i = texts.index(p)
            out.append(PromptEmbeddings(*(None if t is None else t[i : i + 1] for t in cached)))
        return out
