"""One LoRA training step against ltx-trainer 1.2.0, on a tiny official-layout checkpoint, float32 CPU.

The official step is composed from the wheel as its trainer runs it: ltx-core's LTXModel (built from the file as
ltx-core's builder does), peft's LoRA with ltx-trainer's LoraConfig (rank, alpha, target modules, init), the
text-to-video strategy's `prepare_training_inputs` (with audio, first-frame conditioning) and `compute_loss`, the
mean over the batch, backward, gradient clipping, AdamW (torch's defaults, the trainer's learning rate). The text
features enter after the connectors (the trainer runs its embeddings processor first; ours equals ltx-core's,
proven by the text parity). Both sides start from the same LoRA A (copied) and B = 0 plus a nudge, so the
gradients of A are not zero, and draw the batch's mask, sigma and noise from torch's global generator seeded alike.
Compared: the per-sample loss, every LoRA gradient, every LoRA weight after the step.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import OfficialTransformer, require


def batch(cfg, seed: int = 5, b: int = 2, frames: int = 3, h: int = 4, w: int = 6, audio_t: int = 5, text: int = 7):
    """A batch (and IC-LoRA reference latents at half the size)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "video": torch.randn(b, 128, frames, h, w, generator=g),
        "reference": torch.randn(b, 128, frames, h // 2, w // 2, generator=g),
        "audio": torch.randn(b, 8, audio_t, 16, generator=g),
        "video_context": torch.randn(b, text, cfg.inner_dim, generator=g),
        "audio_context": torch.randn(b, text, cfg.audio_inner_dim, generator=g),
        "mask": torch.ones(b, text, dtype=torch.long),
    }


def _grad(weight: torch.Tensor) -> torch.Tensor:
    """The gradient (zeros for a layer the step did not reach, e.g. the audio stream's in IC-LoRA)."""
    return torch.zeros_like(weight) if weight.grad is None else weight.grad.clone()


def _nudge(weight: torch.Tensor, name: str, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + sum(map(ord, name)))
    return 0.01 * torch.randn(weight.shape, generator=g)


def ours_step(path, x, *, rank, alpha, lr, max_norm, first_frame_p, seed, ic=False, fps=24.0):
    from ltx.dit import load_transformer
    from ltx.train.flow import loss, prepare
    from ltx.train.lora import add_lora, lora_parameters

    model = load_transformer(path, dtype=torch.float32)
    adapters = add_lora(model, rank, alpha, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for name, a in adapters.items():
            a.lora_B.weight.copy_(_nudge(a.lora_B.weight, name, seed))
    init = {name: a.lora_A.weight.detach().clone() for name, a in adapters.items()}
    params = lora_parameters(adapters)
    optimizer = torch.optim.AdamW(params, lr=lr)
    torch.manual_seed(seed)
    if ic:
        p = prepare(x["video"], x["video_context"], fps=fps, context_mask=x["mask"], reference=x["reference"],
                    first_frame_p=first_frame_p)  # fmt: skip
    else:
        p = prepare(x["video"], x["video_context"], fps=fps, context_mask=x["mask"], audio_latent=x["audio"],
                    audio_context=x["audio_context"], first_frame_p=first_frame_p)  # fmt: skip
    v, a = model(p.video, p.audio)
    per_sample = loss(v, a, p)
    per_sample.mean().backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    out = {"loss": per_sample.detach()}
    for name, ad in adapters.items():
        out[f"grad/{name}.lora_A"], out[f"grad/{name}.lora_B"] = _grad(ad.lora_A.weight), _grad(ad.lora_B.weight)
    optimizer.step()
    for name, ad in adapters.items():
        out[f"after/{name}.lora_A"], out[f"after/{name}.lora_B"] = ad.lora_A.weight.detach(), ad.lora_B.weight.detach()
    return out, init


def peft_lora(model, rank: int, alpha: float, init: dict[str, torch.Tensor]):
    """ltx-core's `model` frozen, with peft's LoRA as ltx-trainer's LoraConfig puts it (its default targets, no
    dropout, peft's init), each A copied from `init` (by layer name). Returns (the peft model, {layer: its LoRA
    layer})."""
    from ltx.train.lora import DEFAULT_TARGETS

    peft = require("peft")
    model.requires_grad_(False)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, init_lora_weights=True,
                             target_modules=list(DEFAULT_TARGETS))  # fmt: skip
    wrapped = peft.get_peft_model(model, config)
    layers = {}
    for name, module in wrapped.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            layer = name.removeprefix("base_model.model.")
            layers[layer] = module
            with torch.no_grad():
                module.lora_A["default"].weight.copy_(init[layer])
    return wrapped, layers


def official_step(path, x, init, *, rank, alpha, lr, max_norm, first_frame_p, seed, ic=False, fps=24.0):
    t2v = require("ltx_trainer.training_strategies.text_to_video")
    v2v = require("ltx_trainer.training_strategies.video_to_video")
    samplers = require("ltx_trainer.timestep_samplers")
    from ltx.checkpoint import Checkpoint
    from ltx.dit.loading import transformer_config

    cfg = transformer_config(Checkpoint(path))
    model = OfficialTransformer(path, torch.device("cpu"), torch.float32, cfg.has_audio).model
    model, layers = peft_lora(model, rank, alpha, init)
    with torch.no_grad():
        for layer, module in layers.items():
            module.lora_B["default"].weight.copy_(_nudge(module.lora_B["default"].weight, layer, seed))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    if ic:
        strategy = v2v.VideoToVideoStrategy(v2v.VideoToVideoConfig(first_frame_conditioning_p=first_frame_p))
    else:
        config = t2v.TextToVideoConfig(first_frame_conditioning_p=first_frame_p, with_audio=True)
        strategy = t2v.TextToVideoStrategy(config)
    b, _, f, h, w = x["video"].shape
    data = {
        "latents": {"latents": x["video"], "num_frames": torch.full((b,), f), "height": torch.full((b,), h),
                    "width": torch.full((b,), w), "fps": torch.full((b,), fps)},
        "conditions": {"video_prompt_embeds": x["video_context"], "audio_prompt_embeds": x["audio_context"],
                       "prompt_attention_mask": x["mask"]},
        "audio_latents": {"latents": x["audio"]},
    }  # fmt: skip
    if ic:
        _, _, rf, rh, rw = x["reference"].shape
        data["ref_latents"] = {"latents": x["reference"], "num_frames": torch.full((b,), rf),
                               "height": torch.full((b,), rh), "width": torch.full((b,), rw)}  # fmt: skip
        del data["audio_latents"]
    torch.manual_seed(seed)
    inputs = strategy.prepare_training_inputs(data, samplers.ShiftedLogitNormalTimestepSampler())
    v, a = model(video=inputs.video, audio=inputs.audio, perturbations=None)
    per_sample = strategy.compute_loss(v, a, inputs)
    per_sample.mean().backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    out = {"loss": per_sample.detach()}
    for layer, m in layers.items():
        out[f"grad/{layer}.lora_A"] = _grad(m.lora_A["default"].weight)
        out[f"grad/{layer}.lora_B"] = _grad(m.lora_B["default"].weight)
    optimizer.step()
    for layer, m in layers.items():
        out[f"after/{layer}.lora_A"] = m.lora_A["default"].weight.detach()
        out[f"after/{layer}.lora_B"] = m.lora_B["default"].weight.detach()
    return out


def train_step_parity(path: str | Path, *, rank: int = 4, alpha: float = 4, lr: float = 1e-3, max_norm: float = 1.0,
                      first_frame_p: float = 0.5, seed: int = 3, ic: bool = False, ours_lr: float | None = None,
                      group: str = "train step") -> list[Row]:  # fmt: skip
    """Rows for the loss, every LoRA gradient and every updated LoRA weight (float32 CPU), text-to-video with audio
    or (`ic`) IC-LoRA with half-size reference latents. The updated weights of the first are held to 1e-4 (see
    below), everything else to the float32 tolerance. `ours_lr` changes our side only, to show a wrong setting is
    caught."""
    from ltx.checkpoint import Checkpoint
    from ltx.dit.loading import transformer_config

    x = batch(transformer_config(Checkpoint(path)))
    kw = dict(rank=rank, alpha=alpha, max_norm=max_norm, first_frame_p=first_frame_p, seed=seed, ic=ic)
    got, init = ours_step(path, x, lr=lr if ours_lr is None else ours_lr, **kw)
    ref = official_step(path, x, init, lr=lr, **kw)
    # AdamW's first step divides each gradient by its own size (+ eps 1e-8): where one is near eps, the ~1e-7
    # relative gradient differences of the audio <-> video path become up to ~1e-4 of the updated weight
    after = {k for k in got if k.startswith("after/")}
    rows = compare_exact(group, {k: v for k, v in got.items() if k not in after},
                         {k: v for k, v in ref.items() if k not in after})  # fmt: skip
    return rows + compare_exact(group, {k: got[k] for k in after}, {k: ref[k] for k in after}, tol=1e-5 if ic else 1e-4)


# -- the flexible strategy ----------------------------------------------------------------------------
FLEXIBLE_CASES = {
    # name: ((video generated, [(kind, probability, frames, box)]), (audio generated, [...]))
    "a2v": ((True, [("first_frame", 0.5, 1, None)]), (False, [])),
    "v2a": ((False, []), (True, [])),
    "extend": ((True, [("prefix", 1.0, 1, None), ("suffix", 0.5, 1, None)]), (True, [("prefix", 0.7, 2, None)])),
    "inpaint": ((True, [("mask", 1.0, 1, None), ("spatial_crop", 1.0, 1, (0, 32, 64, 128))]), None),
}


def _official_condition(kind, probability, frames, box):
    flex = require("ltx_trainer.training_strategies.flexible")
    if kind == "first_frame":
        return flex.FirstFrameConditionConfig(probability=probability)
    if kind in ("prefix", "suffix"):
        cls = flex.PrefixConditionConfig if kind == "prefix" else flex.SuffixConditionConfig
        return cls(temporal_boundary=frames, probability=probability)
    if kind == "spatial_crop":
        return flex.SpatialCropConditionConfig(spatial_region=box, probability=probability)
    return flex.MaskConditionConfig(mask_dir="masks", probability=probability)


def flexible_parity(path: str | Path, cases=tuple(FLEXIBLE_CASES), *, seed: int = 4, ours_seed: int | None = None,
                    group: str = "train flexible") -> list[Row]:  # fmt: skip
    """Per case: the prepared latents, timesteps, sigmas, targets and loss masks of both modalities, and the loss
    through each side's model (no LoRA: the objective alone), against ltx-trainer's FlexibleStrategy. `ours_seed`
    changes our side's draws only, to show a wrong draw is caught."""
    from ltx.checkpoint import Checkpoint
    from ltx.dit import load_transformer
    from ltx.dit.loading import transformer_config
    from ltx.train.flexible import Region, Role, flexible_loss, prepare_flexible

    flex = require("ltx_trainer.training_strategies.flexible")
    samplers = require("ltx_trainer.timestep_samplers")
    cfg = transformer_config(Checkpoint(path))
    ours_model = load_transformer(path, dtype=torch.float32)
    official = OfficialTransformer(path, torch.device("cpu"), torch.float32, cfg.has_audio).model
    x = batch(cfg)
    b, _, f, h, w = x["video"].shape
    got, ref = {}, {}
    for name in cases:
        v_spec, a_spec = FLEXIBLE_CASES[name]
        g = torch.Generator().manual_seed(seed)
        masks = {"video": (torch.rand(b, f * h * w, generator=g) > 0.6).float()}
        role = lambda spec: (
            None
            if spec is None
            else Role(
                spec[0],
                tuple(  # noqa: E731
                    Region(k, p, n, box or (0, 0, 0, 0)) for k, p, n, box in spec[1]
                ),
            )
        )
        torch.manual_seed(seed if ours_seed is None else ours_seed)
        video, audio = prepare_flexible(x["video"], role(v_spec), x["video_context"], audio_latent=x["audio"],
                                        audio_role=role(a_spec), audio_context=x["audio_context"],
                                        context_mask=x["mask"], masks=masks)  # fmt: skip
        with torch.no_grad():
            v, a = ours_model(video.stream if video else None, audio.stream if audio else None)
            got[f"{name}/loss"] = flexible_loss(v, a, video, audio)
        modality = lambda spec: (
            None
            if spec is None
            else flex.ModalityConfig(  # noqa: E731
                is_generated=spec[0], latents_dir="latents", conditions=[_official_condition(*c) for c in spec[1]]
            )
        )
        config = flex.FlexibleStrategyConfig(video=modality(v_spec), audio=modality(a_spec))
        strategy = flex.FlexibleStrategy(config)
        data = {"video_latents": {"latents": x["video"], "num_frames": torch.full((b,), f),
                                  "height": torch.full((b,), h), "width": torch.full((b,), w),
                                  "fps": torch.full((b,), 24.0)},
                "audio_latents": {"latents": x["audio"]},
                "conditions": {"video_prompt_embeds": x["video_context"], "audio_prompt_embeds": x["audio_context"],
                               "prompt_attention_mask": x["mask"]},
                "masks": {"mask": masks["video"]}}  # fmt: skip
        torch.manual_seed(seed)
        inputs = strategy.prepare_training_inputs(data, samplers.ShiftedLogitNormalTimestepSampler())
        with torch.no_grad():
            ov, oa = official(video=inputs.video, audio=inputs.audio, perturbations=None)
            ref[f"{name}/loss"] = strategy.compute_loss(ov, oa, inputs)
        for side, mine, theirs, target, lmask in (
            ("video", video, inputs.video, inputs.video_targets, inputs.video_loss_mask),
            ("audio", audio, inputs.audio, inputs.audio_targets, inputs.audio_loss_mask),
        ):
            if mine is None:
                continue
            got[f"{name}/{side}.latent"], ref[f"{name}/{side}.latent"] = mine.stream.latent, theirs.latent
            got[f"{name}/{side}.timesteps"], ref[f"{name}/{side}.timesteps"] = mine.stream.timesteps, theirs.timesteps
            got[f"{name}/{side}.sigma"], ref[f"{name}/{side}.sigma"] = mine.stream.sigma, theirs.sigma
            if target is not None:
                got[f"{name}/{side}.target"], ref[f"{name}/{side}.target"] = mine.target, target
                got[f"{name}/{side}.loss_mask"], ref[f"{name}/{side}.loss_mask"] = mine.loss_mask.float(), lmask.float()
    return compare_exact(group, got, ref)
