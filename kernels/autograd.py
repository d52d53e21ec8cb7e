"""Gradients through the fast kernels: the forward runs the kernel, the backward differentiates the reference.

Our Triton kernels are forward-only. `differentiable(fast, reference, *args)` runs `fast(*args)` and, when a
gradient is being recorded for one of the tensor arguments, attaches the backward of `reference(*args)`
(recomputed from the saved inputs; for attention that is SDPA's backward). The gradient is thus exactly the
reference's at the same inputs, and the forward keeps the kernel's speed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def differentiable(fast: Callable, reference: Callable, *args):
    """fast(*args), with reference(*args)'s gradients when autograd records any tensor argument."""
    if not torch.is_grad_enabled() or not any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
        return fast(*args)
    return _ReferenceBackward.apply(fast, reference, *args)


class _ReferenceBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fast, reference, *args):
        ctx.reference = reference
        ctx.positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        ctx.others = [None if isinstance(a, torch.Tensor) else a for a in args]
        ctx.save_for_backward(*(args[i] for i in ctx.positions))
        return fast(*args)

    @staticmethod
    def backward(ctx, grad):
        args = list(ctx.others)
        wanted = ctx.needs_input_grad[2:]
        for i, saved in zip(ctx.positions, ctx.saved_tensors, strict=True):
            args[i] = saved.detach().requires_grad_(wanted[i])
        inputs = [args[i] for i in ctx.positions if wanted[i]]
        with torch.enable_grad():
            out = ctx.reference(*args)
        grads = iter(torch.autograd.grad(out, inputs, grad, allow_unused=True))
        return (None, None, *(next(grads) if i in ctx.positions and wanted[i] else None for i in range(len(args))))
