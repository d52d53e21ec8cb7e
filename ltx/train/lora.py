"""LoRA adapters put on a model's linears from outside (the model's code stays plain), as ltx-trainer 1.2.0 puts
them with peft: on every nn.Linear whose name is one of `targets` or ends with "." + one of them (default: the
attention projections to_q, to_k, to_v, to_out.0); A (rank, in) Kaiming-uniform (a = sqrt(5)), B (out, rank) zero,
both float32 whatever the base weight's dtype (the optimizer's master weights); the output base(x) + B(A(x)) *
alpha / rank computed in x's dtype, the adapters cast to it: in float32 what peft computes, in bf16 what peft
computes under the trainer's bf16 autocast (the matmuls in bf16, the gradients reaching the float32 weights).

Saved in the ComfyUI key format (`diffusion_model.<layer>.lora_A.weight` / `.lora_B.weight`) that `ltx generate
--lora`, ltx-core and ComfyUI load; the official fusion adds B @ A without alpha, so B is saved times alpha / rank
(the same file as the official trainer's when alpha == rank, its default).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
PREFIX = "diffusion_model."


class LoRALinear(nn.Module):
    """A frozen linear plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0, generator=None):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False, device=base.weight.device, dtype=torch.float32)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False, device=base.weight.device, dtype=torch.float32)
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5), generator=generator)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        a, b = self.lora_A.weight.to(out.dtype), self.lora_B.weight.to(out.dtype)
        return out + F.linear(F.linear(self.dropout(x.to(out.dtype)), a), b) * self.scaling


def matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(model: nn.Module, rank: int = 64, alpha: float = 64, *, targets=DEFAULT_TARGETS, dropout: float = 0.0,
             only: str | None = None, generator: torch.Generator | None = None) -> dict[str, LoRALinear]:  # fmt: skip
    """Freeze `model` and wrap each target linear (under `only`, a name prefix, if given) in a LoRALinear, A drawn
    from `generator` (None: torch's global one, as peft). Returns them by layer name; a target list that matches
    no linear is an error."""
    if rank < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise ValueError(f"LoRA rank must be >= 1, alpha > 0, dropout in [0, 1), got {rank}, {alpha}, {dropout}")
    model.requires_grad_(False)
    found = {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and matches(name, targets) and (only is None or name.startswith(only))
    }
    if not found:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"LoRA targets {list(targets)} match no linear of the model; its linears end in: {linears}")
    adapters = {}
    for name, linear in found.items():
        parent, _, leaf = name.rpartition(".")
        adapter = LoRALinear(linear, rank, alpha, dropout, generator)
        setattr(model.get_submodule(parent) if parent else model, leaf, adapter)
        adapters[name] = adapter
    return adapters


def lora_parameters(adapters: dict[str, LoRALinear]) -> list[nn.Parameter]:
    return [p for a in adapters.values() for p in (a.lora_A.weight, a.lora_B.weight)]


def lora_state(adapters: dict[str, LoRALinear], dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
    """The ComfyUI-format tensors (B times alpha / rank, so a strength-1 fusion is the trained model)."""
    out = {}
    for name, a in adapters.items():
        out[f"{PREFIX}{name}.lora_A.weight"] = a.lora_A.weight.detach().to(dtype).contiguous()
        out[f"{PREFIX}{name}.lora_B.weight"] = (a.lora_B.weight.detach() * a.scaling).to(dtype).contiguous()
    return out


def save_lora(path: str | os.PathLike, adapters: dict[str, LoRALinear], dtype: torch.dtype = torch.bfloat16,
              metadata: dict[str, str] | None = None) -> Path:  # fmt: skip
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(lora_state(adapters, dtype), str(path), metadata=metadata or {})
    return path


def load_lora_weights(adapters: dict[str, LoRALinear], state: dict[str, torch.Tensor], source: str = "a LoRA") -> None:
    """Put ComfyUI-format tensors (as `lora_state` writes them) back into the adapters; every adapter and every
    tensor must match, else one error names what does not."""
    want = {f"{PREFIX}{n}.lora_{k}.weight": (n, k) for n in adapters for k in "AB"}
    missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    shape = lambda k: tuple(getattr(adapters[want[k][0]], f"lora_{want[k][1]}").weight.shape)  # noqa: E731
    wrong = sorted(k for k in set(want) & set(state) if tuple(state[k].shape) != shape(k))
    if missing or unexpected or wrong:
        raise ValueError(f"{source} does not fit these LoRA adapters: missing {missing[:3]}, unexpected "
                         f"{unexpected[:3]}, wrong shape {wrong[:3]} (another rank, targets or model?)")  # fmt: skip
    with torch.no_grad():
        for key, (name, kind) in want.items():
            a = adapters[name]
            value = state[key].to(torch.float32)
            if kind == "B":
                value = value / a.scaling
            getattr(a, f"lora_{kind}").weight.copy_(value)
