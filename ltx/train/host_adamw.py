"""AdamW with its two moments in (pinned) host memory (`offload_optimizer: true`).

A LoRA of rank 32 on the 19B has 214 M float32 parameters: 0.8 GiB of weights, 0.8 of gradients and 1.6 of AdamW
moments (in the parameters' dtype), the moments half of what a step holds beside the model. `HostAdamW` keeps them on
the host and, at each step, brings them to the parameters' device a chunk at a time (`chunk_bytes` of parameters),
applies torch's AdamW update to the chunk (the fused kernel on CUDA, as `make_optimizer` gives the resident run;
torch's default elsewhere) and sends them back; the copies are ordered on the compute stream, so the next chunk's
upload queues behind the update. The update is elementwise per tensor, so chunking changes nothing: the parameters and
moments are bitwise the resident optimizer's (tested), and the state dict has AdamW's layout (a run resumes across
the setting).
"""

from __future__ import annotations

import torch
from torch.optim.adamw import adamw


class HostAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 chunk_bytes: int = 256 * 2**20):  # fmt: skip
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.chunk_bytes = chunk_bytes

    def _host(self, t: torch.Tensor) -> torch.Tensor:
        host = torch.empty(t.shape, dtype=t.dtype, pin_memory=t.is_cuda)
        return host.copy_(t)

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:  # (as AdamW's first step: a float32 step count on the parameter's device, moments zero)
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = self._host(torch.zeros_like(p))
            state["exp_avg_sq"] = self._host(torch.zeros_like(p))
        return state

    def _chunks(self, params: list[torch.Tensor]):
        chunk, size = [], 0
        for p in params:
            chunk.append(p)
            size += p.numel() * p.element_size()
            if size >= self.chunk_bytes:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("HostAdamW.step takes no closure")
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for chunk in self._chunks(params):
                states = [self._state(p) for p in chunk]
                m = [s["exp_avg"].to(p.device, non_blocking=True) for p, s in zip(chunk, states, strict=True)]
                v = [s["exp_avg_sq"].to(p.device, non_blocking=True) for p, s in zip(chunk, states, strict=True)]
                fused = all(p.is_cuda for p in chunk) or None
                beta1, beta2 = group["betas"]
                adamw(chunk, [p.grad for p in chunk], m, v, [], [s["step"] for s in states], fused=fused,
                      amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                      eps=group["eps"], maximize=False)  # fmt: skip
                for s, a, b in zip(states, m, v, strict=True):
                    s["exp_avg"].copy_(a, non_blocking=True)
                    s["exp_avg_sq"].copy_(b, non_blocking=True)
        return None

    def state_dict(self) -> dict:
        if any(p.is_cuda for p in self.state):  # (the last step's copies back to the host must have landed)
            torch.cuda.synchronize()
        return super().state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)  # (it moves every tensor to its parameter's device: the moments go back)
        for p, state in self.state.items():
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key] = self._host(state[key])
            if "step" in state:  # (a host count from a non-fused AdamW: the fused update keeps it on the device)
                state["step"] = state["step"].to(p.device, torch.float32)
