"""Which layout-sensitive ops see other memory layouts in one flow than in another (ours vs the official).

On the GPU a convolution, a matrix product, an attention, a norm or a reduction picks its kernel (and with it the
order of its additions) by its operands' strides and alignment, where the CPU often does not: a flow that is
bitwise the official on the CPU can part from it on the GPU for a layout alone. `Record` counts, per op and operand
shapes, the layouts its calls saw; `differences` names what one flow calls that the other does not. Elementwise ops
are left out by default: the GPU computes each element alike whatever the strides.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# aten ops whose CUDA kernels depend on the operands' layout (composite ops reach a dispatch mode whole under
# torch.inference_mode, decomposed outside it: record both sides under the same mode)
SENSITIVE = frozenset({
    "linear", "matmul", "mm", "addmm", "bmm", "baddbmm", "einsum", "layer_norm", "native_layer_norm", "rms_norm",
    "_fused_rms_norm", "group_norm", "native_group_norm", "sum", "mean", "var", "std", "var_mean", "std_mean",
    "softmax", "_softmax", "log_softmax", "_log_softmax", "cumsum", "linalg_vector_norm", "norm", "scatter_add",
    "index_add",
})  # fmt: skip
SENSITIVE_PREFIXES = ("conv", "upsample", "scaled_dot_product", "_scaled_dot_product")
# ops that only view, move or allocate data (left out even with every_op)
MOVES = frozenset({
    "view", "reshape", "_unsafe_view", "expand", "permute", "transpose", "t", "unsqueeze", "squeeze", "slice",
    "select", "alias", "detach", "as_strided", "clone", "contiguous", "copy_", "empty", "empty_like", "zeros",
    "zeros_like", "ones", "ones_like", "full", "full_like", "fill_", "unbind", "split", "split_with_sizes", "chunk",
    "flatten", "unflatten", "lift_fresh", "_local_scalar_dense", "is_nonzero", "item", "arange", "stack", "cat",
    "index", "index_select", "repeat", "repeat_interleave", "narrow", "movedim",
})  # fmt: skip

Key = tuple[str, tuple]  # (op, the operands' (shape, dtype))


def _tensors(args):
    for a in args:
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (t for t in a if isinstance(t, torch.Tensor))


class Record(TorchDispatchMode):
    """(op, operand shapes and dtypes) -> how many calls saw each layout (strides, and where the data starts in its
    allocation mod 16 bytes: vector loads need 16). Counted, not listed in order: two flows may order independent
    calls differently or reuse a result, which does not change what the GPU computes."""

    def __init__(self, every_op: bool = False):
        super().__init__()
        self.calls: dict[Key, Counter] = defaultdict(Counter)
        self.every_op = every_op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SENSITIVE or name.startswith(SENSITIVE_PREFIXES) or self.every_op and name not in MOVES:
            ts = list(_tensors(args))
            key = (name, tuple((tuple(t.shape), str(t.dtype).removeprefix("torch.")) for t in ts))
            self.calls[key][tuple((t.stride(), t.storage_offset() * t.element_size() % 16) for t in ts)] += 1
        return func(*args, **(kwargs or {}))


def differences(
    ours: dict[Key, Counter], official: dict[Key, Counter], counts: bool = False, ignore: tuple[str, ...] = ()
) -> list[str]:
    """A line per (op, operand shapes) whose set of layouts differs between the records (with `counts`, also where
    only the number of calls differs: a result computed twice on one side and reused on the other). `ignore`: ops
    left out by name (one side computes a value the other does not, and nothing reads it)."""
    out = []
    for key in sorted((k for k in set(ours) | set(official) if k[0] not in ignore), key=str):
        a, b = ours.get(key, Counter()), official.get(key, Counter())
        if a != b and (counts or set(a) != set(b)):
            out.append(f"{key[0]} {key[1]}:\n    ours     {dict(a)}\n    official {dict(b)}")
    return out


@contextmanager
def recording(record: Record) -> Iterator[Record]:
    """Record under inference mode (composite ops such as linear, conv3d, SDPA and the norms then reach the record
    whole, on both sides alike) with the exact ops (ltx_kernels' reference mode)."""
    import ltx_kernels

    with torch.inference_mode(), ltx_kernels.use(mode="reference"), record:
        yield record


def record_run(run: Callable[[], object], every_op: bool = False) -> dict[Key, Counter]:
    """The layouts `run()` gives its layout-sensitive ops (every computing op's with `every_op`)."""
    with recording(Record(every_op)) as rec:
        run()
    return rec.calls


# ltx-core's BWE vocoder computes a per-frame energy (a vector norm) that nothing reads; ours does not compute it
UNREAD_ENERGY = ("linalg_vector_norm",)


def layout_differences(ours: Callable, official: Callable, *args, ignore: tuple[str, ...] = (), **kwargs) -> list[str]:
    """`differences` of the records of ours(*args, **kwargs) and official(*args, **kwargs)."""
    return differences(*(record_run(lambda f=f: f(*args, **kwargs)) for f in (ours, official)), ignore=ignore)
