"""Faster execution of the LTX-2 and LTX-Video transformers, applied from outside the model (its code stays plain):

- `compile_blocks(model)`: torch.compile on every block (inductor; our kernels are custom operators, so the
  graph runs through them and fuses the element-wise work around them). All blocks share one compiled graph.
- `capture_blocks(model)`: `model.run_blocks` (the loop over the 48 blocks) recorded once per input signature
  as one CUDA graph and replayed after: one launch for the whole loop instead of thousands. A signature is
  every input tensor's shape, dtype and strides, the non-tensor inputs (perturbations, STG); a new one is
  recorded on first sight (after two warm-up runs, which is also when the blocks compile). The inputs are
  copied into the graph's own buffers and the outputs copied out, so callers see ordinary tensors.
- `accelerate(model)`: both (what `ltx generate --compile` does).

Capture needs CUDA and no autograd (training runs the loop as is); elsewhere the loop runs uncaptured.
The results equal the eager model's up to the compiled kernels' rounding (inductor fuses and reorders
element-wise math); captured without compiling, they are bitwise the eager results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn


def compile_blocks(model: nn.Module, *, backend: str = "inductor", fullgraph: bool = False, **options) -> nn.Module:
    """torch.compile every transformer block in place (`options` as torch.compile takes them: dynamic, mode...)."""
    for block in model.transformer_blocks:
        block.compile(backend=backend, fullgraph=fullgraph, **options)
    return model


def capture_blocks(model: nn.Module) -> nn.Module:
    """Replay `model.run_blocks` from CUDA graphs (one per input signature)."""
    if not isinstance(model.run_blocks, CapturedLoop):
        model.run_blocks = CapturedLoop(model.run_blocks)
    return model


def accelerate(model: nn.Module, *, compile: bool = True, capture: bool = True) -> nn.Module:
    if compile:
        compile_blocks(model)
    if capture:
        capture_blocks(model)
    return model


# -- the input structure, flattened to its tensors -------------------------------------------------
def _leaves(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _leaves(getattr(obj, f.name))
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _leaves(item)


def _signature(obj: Any) -> Any:
    """A hashable description of everything but the tensors' values."""
    if isinstance(obj, torch.Tensor):
        return ("tensor", tuple(obj.shape), obj.stride(), obj.dtype, obj.device)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj), tuple(_signature(getattr(obj, f.name)) for f in dataclasses.fields(obj)))
    if isinstance(obj, tuple):
        return (type(obj), tuple(_signature(item) for item in obj))
    return obj


def _rebuild(obj: Any, tensors: Iterator[torch.Tensor]) -> Any:
    """`obj` with its tensors replaced, in `_leaves` order."""
    if isinstance(obj, torch.Tensor):
        return next(tensors)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _rebuild(getattr(obj, f.name), tensors) for f in
                                           dataclasses.fields(obj) if f.init})  # fmt: skip
    if isinstance(obj, tuple):
        items = [_rebuild(item, tensors) for item in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    return obj


@dataclasses.dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    inputs: list[torch.Tensor]
    outputs: tuple[torch.Tensor | None, ...]


class CapturedLoop:
    """A function of (tensors in nested tuples / dataclasses, constants) replayed from CUDA graphs."""

    def __init__(self, run: Callable, warmup: int = 2):
        self.run, self.warmup = run, warmup
        self.graphs: dict[Any, _Graph] = {}

    def __call__(self, *args):
        leaves = list(_leaves(args))
        if not leaves or not leaves[0].is_cuda or torch.is_grad_enabled():
            return self.run(*args)
        key = _signature(args)
        entry = self.graphs.get(key)
        if entry is None:
            entry = self.graphs[key] = self._capture(args, leaves)
        for static, value in zip(entry.inputs, leaves, strict=True):
            static.copy_(value)
        entry.graph.replay()
        return tuple(None if out is None else out.clone() for out in entry.outputs)

    def _capture(self, args, leaves: list[torch.Tensor]) -> _Graph:
        inputs = [t.clone() for t in leaves]
        static_args = _rebuild(args, iter(inputs))
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm-up off the default stream (compiles, autotunes, allocates)
            for _ in range(self.warmup):
                self.run(*static_args)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self.run(*static_args)
        return _Graph(graph, inputs, tuple(outputs))
