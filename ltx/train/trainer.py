"""LoRA and IC-LoRA training of the LTX-2 transformer on ltx-trainer 1.2.0's preprocessed data (`ltx train CONFIG`).

Data: a folder as ltx-trainer's preprocessing writes it: `latents/**/*.pt` ({"latents": (128, F', H', W'),
"num_frames", "height", "width", "fps"}), the same relative paths under `conditions/` ({"video_prompt_embeds",
"audio_prompt_embeds", "prompt_attention_mask"}: the text feature extractor's outputs, the connectors run here, as
there; a `latent_X.pt` may pair with `condition_X.pt`), `audio_latents/` ({"latents": (8, T, 16)}) with `with_audio`,
`reference_latents/` for IC-LoRA. Every file is checked before the first step.

Each step: the flow-matching objective (flow.py) on a batch, the mean over it, backward (per-block activation
checkpointing if asked), gradient clipping, AdamW on the float32 LoRA parameters (the base model in bf16; in the
"full" mode on the chosen blocks' float32 weights, saved under the checkpoint's keys), the
learning-rate schedule. Every `checkpoint_every` steps: the LoRA (ComfyUI keys) and the training state (optimizer,
schedule, generator, step), so a crash loses at most the steps since; a run resumes from the newest state in its
output folder (a state from another config is refused).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import ltx_kernels
import torch

from ltx.train.activations import HostActivations
from ltx.train.flexible import flexible_loss, prepare_flexible
from ltx.train.flow import SigmaSampler, loss, prepare
from ltx.train.lora import DEFAULT_TARGETS, add_lora, load_lora_weights, lora_parameters, lora_state, save_lora

SCHEDULES = ("constant", "linear", "cosine")
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    checkpoint: str  # the LTX-2 single-file checkpoint (transformer + text connectors)
    data: str  # the preprocessed folder
    output: str
    mode: str = "lora"  # "lora" (text-to-video), "ic-lora" (reference latents), "flexible", "full" (chosen blocks)
    # "flexible" (ltx-trainer's strategy; LoRA): per modality {"generated": bool, "regions": [{"kind": "prefix",
    # "frames": 1, "probability": 1.0}, ...]} (kinds: first_frame, prefix, suffix, spatial_crop with "box", mask from
    # masks/); None leaves the modality out. a2v: video generated, audio not; v2a the reverse; extend: a prefix.
    video: dict | None = None
    audio: dict | None = None
    train_blocks: tuple[int, ...] = ()  # "full": the blocks whose weights train (empty: every block)
    with_audio: bool = False
    rank: int = 32
    alpha: float = 32
    targets: tuple[str, ...] = DEFAULT_TARGETS
    dropout: float = 0.0
    steps: int = 1000
    learning_rate: float = 1e-4
    batch_size: int = 1
    max_grad_norm: float = 1.0
    optimizer: str = "adamw"  # or "adamw8bit": bitsandbytes' 8-bit AdamW (as ltx-trainer's), if installed
    schedule: str = "linear"  # constant, linear (to 0.1x), cosine (to 0)
    first_frame_p: float = 0.1
    sigma_sampler: str = "shifted_logit_normal"
    checkpoint_every: int = 250
    gradient_checkpointing: bool = True
    compile: bool = False  # torch.compile every block, forward and backward (the kernels' reference ops, fused)
    offload_activations: bool = False  # checkpointed blocks' saved inputs in pinned host memory (activations.py)
    offload_optimizer: bool = False  # AdamW's moments in pinned host memory, streamed per step (host_adamw.py)
    dtype: str = "bfloat16"
    device: str | None = None
    seed: int = 42
    resume: bool = True
    validation_every: int = 0  # steps between validation samples (0: none)
    validation_prompts: str | None = None  # a prompt-embeddings file from `ltx encode` holding the two below
    validation_prompt: str = ""
    validation_negative_prompt: str = ""
    validation_size: tuple[int, int, int] = (49, 512, 768)  # frames, height, width
    validation_steps: int = 20

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("lora", "ic-lora", "flexible", "full"):
            problems.append(f"mode must be 'lora', 'ic-lora', 'flexible' or 'full', got {self.mode!r}")
        if self.mode == "flexible":
            try:
                roles = self.roles()
            except (ValueError, TypeError) as e:
                problems.append(f"video / audio: {e}")
            else:
                if not any(r is not None and r.generated for r in roles):
                    problems.append("flexible: at least one of video / audio must be generated")
        elif self.video is not None or self.audio is not None:
            problems.append("video / audio describe the flexible mode's modalities: set mode: flexible")
        if self.mode == "full" and self.dtype != "float32":
            problems.append("full fine-tuning trains float32 weights (as ltx-trainer): set dtype: float32")
        if self.train_blocks and self.mode != "full":
            problems.append("train_blocks is the full mode's setting")
        if self.mode == "ic-lora" and self.with_audio:
            problems.append("ic-lora trains the video alone (ltx-trainer's video-to-video strategy): drop with_audio")
        for name in ("rank", "steps", "batch_size", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        for name in ("alpha", "learning_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or value != value:
                problems.append(f"{name} must be a positive number, got {value!r}")
        if not 0 <= self.first_frame_p <= 1 or not 0 <= self.dropout < 1 or self.max_grad_norm < 0:
            problems.append("first_frame_p must be in [0, 1], dropout in [0, 1), max_grad_norm >= 0")
        if self.optimizer not in ("adamw", "adamw8bit"):
            problems.append(f"optimizer must be 'adamw' or 'adamw8bit', got {self.optimizer!r}")
        elif self.optimizer == "adamw8bit" and importlib.util.find_spec("bitsandbytes") is None:
            problems.append("optimizer adamw8bit is bitsandbytes' AdamW8bit: pip install bitsandbytes, or use adamw")
        if self.offload_activations and not self.gradient_checkpointing:
            problems.append("offload_activations moves the checkpointed blocks' inputs: set gradient_checkpointing")
        if self.offload_optimizer and self.optimizer != "adamw":
            problems.append("offload_optimizer moves AdamW's moments; adamw8bit keeps its own state: choose one")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.validation_every and not self.validation_prompts:
            problems.append("validation_every needs validation_prompts (a file from `ltx encode`) and the prompts")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.sigma_sampler not in ("shifted_logit_normal", "uniform"):
            problems.append(f"sigma_sampler must be 'shifted_logit_normal' or 'uniform', got {self.sigma_sampler!r}")
        if problems:
            raise ValueError("training config: " + "; ".join(problems))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TrainConfig:
        """A YAML or TOML file of these fields (unknown keys are an error naming them)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such training config")
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # (Python 3.10)
                raise ValueError(f"{path}: TOML configs need Python 3.11 or newer; write it as YAML") from None
            raw = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raise ValueError(f"{path}: a training config is a .yaml / .yml or .toml file")
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: the config must be a mapping of settings, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown settings {unknown}; known: {sorted(known)}")
        for key in ("targets", "train_blocks", "validation_size"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)

    def roles(self) -> tuple:
        """The flexible mode's (video role, audio role) from the `video` / `audio` settings."""
        from ltx.train.flexible import Region, Role

        def role(spec):
            if spec is None:
                return None
            if not isinstance(spec, dict) or set(spec) - {"generated", "regions"} or "generated" not in spec:
                raise ValueError(f"a modality is {{generated: bool, regions: [...]}}, got {spec!r}")
            regions = tuple(Region(**{k: tuple(v) if k == "box" else v for k, v in r.items()})
                            for r in spec.get("regions", ()))  # fmt: skip
            return Role(bool(spec["generated"]), regions)

        return role(self.video), role(self.audio)

    def fingerprint(self) -> str:
        """What a resumed run must share with the one that saved the state."""
        keep = (
            "checkpoint",
            "mode",
            "with_audio",
            "rank",
            "alpha",
            "targets",
            "dtype",
            "train_blocks",
            "video",
            "audio",
        )
        keep += ("optimizer",) if self.optimizer != "adamw" else ()  # (its state differs)
        return hashlib.sha256(json.dumps({k: getattr(self, k) for k in keep}, default=list).encode()).hexdigest()[:16]


# -- data ------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    root: Path
    files: list[dict[str, Path]] = field(default_factory=list)  # per sample: source -> file

    @classmethod
    def open(cls, root: str | os.PathLike, sources: tuple[str, ...]) -> Dataset:
        root = Path(root)
        if not (root / "latents").is_dir():
            raise FileNotFoundError(f"{root}: no latents/ folder (the data is ltx-trainer's preprocessed layout)")
        latents = sorted((root / "latents").rglob("*.pt"))
        if not latents:
            raise ValueError(f"{root}/latents: holds no .pt files")
        files, missing = [], []
        for path in latents:
            rel = path.relative_to(root / "latents")
            sample = {"latents": path}
            for source in sources:
                other = root / source / rel
                if source == "conditions" and not other.exists() and path.name.startswith("latent_"):
                    other = root / source / rel.with_name("condition_" + path.stem[7:] + ".pt")
                if not other.exists():
                    missing.append(str(other.relative_to(root)))
                sample[source] = other
            files.append(sample)
        if missing:
            raise ValueError(f"{root}: {len(missing)} files missing for the samples in latents/: "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")  # fmt: skip
        return cls(root, files)

    def load(self, index: int) -> dict[str, dict]:
        out = {}
        for source, path in self.files[index].items():
            try:
                out[source] = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - any unreadable file is named
                raise ValueError(f"{path}: not a readable tensor file ({e})") from None
        return out


def _check_sample(sample: dict, files: dict[str, Path], channels: int, text_width: int) -> None:
    lat = sample["latents"]
    if not isinstance(lat, dict) or "latents" not in lat or lat["latents"].ndim != 4:
        raise ValueError(f"{files['latents']}: expected a dict with 'latents' (C, F', H', W')")
    if lat["latents"].shape[0] != channels:
        raise ValueError(f"{files['latents']}: latents have {lat['latents'].shape[0]} channels, the model {channels}")
    cond = sample["conditions"]
    for key in ("video_prompt_embeds", "prompt_attention_mask"):
        if key not in cond:
            raise ValueError(f"{files['conditions']}: has no {key!r}")
    if cond["video_prompt_embeds"].shape[-1] != text_width:
        raise ValueError(f"{files['conditions']}: video_prompt_embeds are {cond['video_prompt_embeds'].shape[-1]} "
                         f"wide, this checkpoint's connectors take {text_width}")  # fmt: skip
    for source in ("audio_latents", "reference_latents"):
        if source in sample and (not isinstance(sample[source], dict) or "latents" not in sample[source]):
            raise ValueError(f"{files[source]}: expected a dict with 'latents'")


def _stack(samples: list[dict], source: str, key: str, files) -> torch.Tensor:
    shapes = {tuple(s[source][key].shape) for s in samples}
    if len(shapes) > 1:
        raise ValueError(f"a batch mixes {source} of shapes {sorted(shapes)} ({[str(f[source]) for f in files]}): "
                         "use batch_size 1 or samples of one size")  # fmt: skip
    return torch.stack([s[source][key] for s in samples])


# -- the run ---------------------------------------------------------------------------------------
def checkpoint_blocks(model) -> None:
    """Recompute each block's activations in the backward pass instead of keeping them (applied from outside)."""
    from torch.utils.checkpoint import checkpoint

    for block in model.transformer_blocks:
        forward = block.forward
        block.forward = lambda *a, f=forward, **k: checkpoint(f, *a, use_reentrant=False, **k)


class Adapters:
    """What trains in the LoRA modes: the adapters; saved as a ComfyUI-format LoRA file."""

    def __init__(self, adapters):
        self.adapters = adapters

    def parameters(self) -> list:
        return lora_parameters(self.adapters)

    def state(self, dtype) -> dict:
        return lora_state(self.adapters, dtype)

    def load(self, state: dict, source: str) -> None:
        load_lora_weights(self.adapters, state, source)

    def save(self, folder: Path, step: int, meta: dict) -> Path:
        return save_lora(folder / f"lora_step_{step:05d}.safetensors", self.adapters, metadata=meta)


class Blocks:
    """What trains in the full mode: the chosen blocks' weights (all others frozen); saved under the checkpoint's
    own keys (`model.diffusion_model.transformer_blocks.N.*`), to put back into it."""

    def __init__(self, model, blocks: tuple[int, ...]):
        n = len(model.transformer_blocks)
        if any(not 0 <= b < n for b in blocks):
            raise ValueError(f"train_blocks {list(blocks)} outside the transformer's {n} blocks")
        model.requires_grad_(False)
        self.named = {}
        for b in blocks or range(n):
            for name, p in model.transformer_blocks[b].named_parameters():
                p.requires_grad_(True)
                self.named[f"model.diffusion_model.transformer_blocks.{b}.{name}"] = p

    def parameters(self) -> list:
        return list(self.named.values())

    def state(self, dtype) -> dict:
        return {k: p.detach().to(dtype).contiguous() for k, p in self.named.items()}

    def load(self, state: dict, source: str) -> None:
        if set(state) != set(self.named):
            raise ValueError(f"{source}: holds other blocks than train_blocks")
        with torch.no_grad():
            for k, p in self.named.items():
                p.copy_(state[k])

    def save(self, folder: Path, step: int, meta: dict) -> Path:
        from safetensors.torch import save_file

        path = folder / f"blocks_step_{step:05d}.safetensors"
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.state(torch.float32), str(path), metadata=meta)
        return path


def make_optimizer(kind: str, params: list, lr: float, offload: bool = False):
    """torch's AdamW (its defaults, as ltx-trainer), or bitsandbytes' 8-bit AdamW (ltx-trainer's adamw8bit).

    On CUDA the AdamW is torch's fused one: the same update in one kernel over every parameter, without the
    parameter-sized temporaries of the multi-tensor version ltx-trainer gets (it rounds differently in the last
    bit); elsewhere torch's default, as ltx-trainer's. `offload`: its moments in host memory (host_adamw.py)."""
    if offload:
        if kind != "adamw":
            raise ValueError(f"offload moves AdamW's moments; {kind} keeps its own state")
        from ltx.train.host_adamw import HostAdamW

        return HostAdamW(params, lr=lr)
    if kind == "adamw8bit":
        from bitsandbytes.optim import AdamW8bit

        return AdamW8bit(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, fused=True if all(p.is_cuda for p in params) else None)


def _schedule(optimizer, kind: str, steps: int):
    if kind == "linear":
        return torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=steps)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def validate(cfg: TrainConfig, model, device, dtype, path: Path) -> Path:
    """A one-stage sample of the validation prompt with the model as it is now (its adapters active), as an MP4."""
    from ltx.media import write_mp4
    from ltx.pipelines import Models, Request
    from ltx.pipelines import generate as pipelines

    models = Models(cfg.checkpoint, prompts=cfg.validation_prompts, device=device, dtype=dtype)
    models.transformer = lambda *args, **kwargs: model  # the model in training, not the file's
    frames, height, width = cfg.validation_size
    req = Request(cfg.validation_prompt, negative_prompt=cfg.validation_negative_prompt, seed=cfg.seed,
                  height=height, width=width, frames=frames, steps=cfg.validation_steps, progress=False)  # fmt: skip
    model.eval()
    try:
        result = pipelines.one_stage(models, req)
    finally:
        model.train()
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_mp4(path, result.video, result.fps, result.audio, result.sample_rate)


def _latest_state(folder: Path) -> Path | None:
    states = sorted(folder.glob("state_step_*.pt"))
    return states[-1] if states else None


def train(cfg: TrainConfig, *, progress: bool = True, on_step=None) -> Path:
    """Run `cfg`; returns the final LoRA file (the trained blocks' file in the full mode). `on_step(step, loss)` is
    called after each step (tests)."""
    from tqdm import tqdm

    from ltx.dit import load_transformer
    from ltx.dit.loading import transformer_config
    from ltx.files import expect
    from ltx.text.processor import load_connectors

    roles = cfg.roles() if cfg.mode == "flexible" else (None, None)
    audio_data = cfg.with_audio or roles[1] is not None
    masked = any(r.kind == "mask" for role in roles if role is not None for r in role.regions)
    sources = ("conditions",) + (("audio_latents",) if audio_data else ()) + (
        ("reference_latents",) if cfg.mode == "ic-lora" else ()) + (("masks",) if masked else ())  # fmt: skip
    data = Dataset.open(cfg.data, sources)
    ckpt = expect(cfg.checkpoint, "transformer")
    mcfg = transformer_config(ckpt)
    if audio_data and not mcfg.has_audio:
        raise ValueError(f"{ckpt.path}: the video-only transformer cannot train with audio")
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = DTYPES[cfg.dtype]
    processor = load_connectors(ckpt, device=device, dtype=dtype)
    for i in range(len(data.files)):  # every file checked before the first step
        _check_sample(data.load(i), data.files[i], mcfg.in_channels, processor.video_embeddings_connector.cfg.dim)
    out = Path(cfg.output)
    folder = out / "checkpoints"
    state_path = _latest_state(folder) if cfg.resume else None
    state = torch.load(state_path, map_location="cpu", weights_only=False) if state_path else None
    if state is not None and state["fingerprint"] != cfg.fingerprint():
        raise ValueError(f"{state_path}: saved by a run of another config (checkpoint, mode, rank, alpha, targets or "
                         "dtype differ); point output elsewhere or set resume: false")  # fmt: skip

    model = load_transformer(ckpt, device=device, dtype=dtype)
    if cfg.mode == "full":
        part = Blocks(model, cfg.train_blocks)
    else:
        part = Adapters(add_lora(model, cfg.rank, cfg.alpha, targets=cfg.targets, dropout=cfg.dropout,
                                 generator=torch.Generator(device).manual_seed(cfg.seed + 2)))  # fmt: skip
    if cfg.gradient_checkpointing:
        checkpoint_blocks(model)
    if cfg.compile:
        from ltx.runtime import compile_blocks

        compile_blocks(model)
    params = part.parameters()
    optimizer = make_optimizer(cfg.optimizer, params, cfg.learning_rate, cfg.offload_optimizer)
    scheduler = _schedule(optimizer, cfg.schedule, cfg.steps)
    generator = torch.Generator(device).manual_seed(cfg.seed)
    order = torch.Generator().manual_seed(cfg.seed + 1)
    step = 0
    if state is not None:
        part.load(state["weights"], str(state_path))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        order.set_state(state["order"])
        step = state["step"]
    sampler = SigmaSampler(cfg.sigma_sampler)
    meta = {"ltx": "train", "mode": cfg.mode, "rank": str(cfg.rank), "alpha": str(cfg.alpha),
            "targets": ",".join(cfg.targets), "checkpoint": Path(cfg.checkpoint).name}  # fmt: skip

    def save(at: int) -> Path:
        weights = part.save(folder, at, {**meta, "step": str(at)})
        torch.save({"step": at, "fingerprint": cfg.fingerprint(), "weights": part.state(torch.float32),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "generator": generator.get_state(), "order": order.get_state()},
                   folder / f"state_step_{at:05d}.pt")  # fmt: skip
        return weights

    # compiled blocks trace the kernels' reference ops (inductor fuses them, forward and backward)
    kernels = (lambda: ltx_kernels.use(mode="reference")) if cfg.compile else contextlib.nullcontext
    saving = HostActivations() if cfg.offload_activations else contextlib.nullcontext()
    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=not progress)
    start, first, last = time.perf_counter(), step, None
    model.train()
    while step < cfg.steps:
        picks = torch.randint(len(data.files), (cfg.batch_size,), generator=order).tolist()
        samples = [data.load(i) for i in picks]
        files = [data.files[i] for i in picks]
        x = _stack(samples, "latents", "latents", files).to(device, dtype)
        cond = {k: _stack(samples, "conditions", k, files).to(device) for k in samples[0]["conditions"]}
        mask = cond["prompt_attention_mask"]
        audio_features = cond["audio_prompt_embeds"].to(dtype) if "audio_prompt_embeds" in cond else None
        with torch.no_grad():
            text = processor.connect(cond["video_prompt_embeds"].to(dtype), audio_features, mask)
        fps = float(samples[0]["latents"].get("fps", 24))
        kw = {}
        if cfg.with_audio:
            kw = dict(audio_latent=_stack(samples, "audio_latents", "latents", files).to(device, dtype),
                      audio_context=text.audio)  # fmt: skip
        if cfg.mode == "ic-lora":
            kw["reference"] = _stack(samples, "reference_latents", "latents", files).to(device, dtype)
        if cfg.mode == "flexible":
            audio = _stack(samples, "audio_latents", "latents", files).to(device, dtype) if roles[1] else None
            masks = {"video": _stack(samples, "masks", "mask", files).to(device)} if masked else None
            vs, au = prepare_flexible(x, roles[0], text.video, audio_latent=audio, audio_role=roles[1],
                                      audio_context=text.audio, context_mask=text.mask, fps=fps, masks=masks,
                                      sampler=sampler, generator=generator)  # fmt: skip
            with kernels(), saving:
                v, a = model(vs.stream if vs else None, au.stream if au else None)
            value = flexible_loss(None if v is None else v.float(), None if a is None else a.float(), vs, au).mean()
        else:
            p = prepare(x, text.video, fps=fps, context_mask=text.mask, sampler=sampler,
                        first_frame_p=cfg.first_frame_p, generator=generator, **kw)  # fmt: skip
            with kernels(), saving:
                v, a = model(p.video, p.audio)
            value = loss(v.float(), None if a is None else a.float(), p).mean()
        if not torch.isfinite(value):
            raise FloatingPointError(f"step {step + 1}: the loss is {value.item()} (lower the learning rate?)")
        optimizer.zero_grad(set_to_none=True)
        with kernels():  # (a checkpointed block recomputes its forward here: with the same ops)
            value.backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        last = value.item()
        bar.set_postfix(loss=f"{last:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}",
                        its=f"{(step - first) / (time.perf_counter() - start):.2f}")  # fmt: skip
        bar.update(1)
        if on_step is not None:
            on_step(step, last)
        if step % cfg.checkpoint_every == 0 and step < cfg.steps:
            save(step)
        if cfg.validation_every and step % cfg.validation_every == 0:
            with kernels():
                validate(cfg, model, device, dtype, out / "samples" / f"step_{step:05d}.mp4")
    bar.close()
    final = save(step)
    return final
