"""Recording named submodules' outputs while a model runs (the same names on both sides)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def capture(module: torch.nn.Module, names: Iterable[str], run: Callable[[], torch.Tensor], prefix: str) -> dict:
    """Run `run()` with hooks on `module`'s named children; return their outputs and the result."""
    out: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_module, _args, output) -> None:  # returns None: a hook's return value replaces the output
            if isinstance(output, tuple):  # e.g. the official STFT returns (magnitude, phase)
                output = output[0]
            out.setdefault(f"{prefix}/{name}", output.detach().float().cpu())

        return record

    handles = [module.get_submodule(name).register_forward_hook(hook(name)) for name in names]
    try:
        with torch.no_grad():
            out[f"{prefix}/out"] = run().detach().float().cpu()
    finally:
        for h in handles:
            h.remove()
    return out
