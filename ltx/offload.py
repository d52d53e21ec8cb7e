"""Weight streaming: a transformer whose blocks do not all fit on the GPU, applied from outside the model.

`plan(...)` decides, for a memory budget, which blocks stay resident and which stream: the model's other weights,
its activations (`working_bytes`, from the request) and `slots` block-sized GPU buffers come first; as many blocks
as then fit stay on the GPU, the rest are spread evenly through the loop, so each copy has the compute of the
resident blocks before it to hide behind. A budget below what one run can possibly need is refused with the minimum.

`BlockStreamer` serves the streamed blocks through the slots: each block's tensors are carved out of one byte
buffer (the same layout on the host and in every slot, offsets aligned to 512 bytes as the allocator aligns its
own), copied on a side CUDA stream, and the block's parameters pointed at the slot before it runs. Events order
the copy before the compute that reads it and the compute before the copy that overwrites its slot; the next
streamed block is fetched while the current one computes, and after the last the first again (the next call's).
Sources:
- "cpu": every streamed block held in pinned host memory in its final form (the run's dtype, LoRAs fused on the
  GPU exactly as the resident model fuses them, float8 weights as float8: half the traffic);
- "disk": the tensors read from the memory-mapped checkpoint for every call by a worker thread (two pinned
  staging buffers), then cast and LoRA-fused on the copy stream; host memory stays at two blocks.
The weights a block computes with are bitwise the resident model's, so are the outputs. On the CPU (tests) the
same code runs synchronously. CUDA-graph capture needs fixed weights and is refused with streaming.
"""

from __future__ import annotations

import math
import os
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import nn

ALIGN = 512
GiB = 2**30


def _size(n: int) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB // 10 else f"{n / 2**20:.1f} MiB"


# -- one block's tensors in one buffer -------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where each tensor of a block lives in its byte buffer."""

    entries: tuple[tuple[str, tuple[int, ...], torch.dtype, int], ...]  # (name, shape, dtype, byte offset)
    nbytes: int

    @staticmethod
    def of(tensors: dict[str, torch.Tensor]) -> Layout:
        entries, offset = [], 0
        for name, t in tensors.items():
            entries.append((name, tuple(t.shape), t.dtype, offset))
            offset += math.ceil(t.numel() * t.element_size() / ALIGN) * ALIGN
        return Layout(tuple(entries), offset)

    def carve(self, buffer: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of `buffer` (uint8) as the block's tensors."""
        out = {}
        for name, shape, dtype, offset in self.entries:
            size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
            out[name] = buffer[offset : offset + size].view(dtype).view(shape)
        return out


def block_tensors(block: nn.Module) -> dict[str, torch.Tensor]:
    return dict(block.named_parameters()) | dict(block.named_buffers())


def _point(block: nn.Module, views: dict[str, torch.Tensor]) -> None:
    """The block's parameters and buffers become `views` (same names)."""
    for name, view in views.items():
        owner, _, leaf = name.rpartition(".")
        module = block.get_submodule(owner) if owner else block
        if leaf in module._parameters:
            module._parameters[leaf].data = view
        else:
            module._buffers[leaf] = view


# -- the plan --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    resident: tuple[int, ...]
    streamed: tuple[int, ...]
    slots: int
    block_bytes: int
    fixed_bytes: int  # the weights outside the blocks
    working_bytes: int  # activations and the rest of one call
    budget_bytes: int

    @property
    def gpu_bytes(self) -> int:
        return self.fixed_bytes + (len(self.resident) + self.slots) * self.block_bytes + self.working_bytes

    def describe(self) -> str:
        n = len(self.resident) + len(self.streamed)
        budget = f" of {_size(self.budget_bytes)}" if self.budget_bytes else ""
        if not self.streamed:
            return f"all {n} blocks resident ({_size(self.gpu_bytes)}{budget})"
        return (f"{len(self.resident)} of {n} blocks resident, {len(self.streamed)} streamed through {self.slots} "
                f"slots of {_size(self.block_bytes)} ({_size(self.gpu_bytes)}{budget} planned)")  # fmt: skip


def plan(n_blocks: int, block_bytes: int, fixed_bytes: int, working_bytes: int, budget_bytes: int,
         slots: int = 2, what: str = "the transformer") -> Plan:  # fmt: skip
    """The most resident blocks that fit `budget_bytes`; the streamed ones spread evenly through the loop."""
    budget_bytes = int(budget_bytes)
    if n_blocks < 1 or block_bytes <= 0 or slots < 1:
        raise ValueError(f"plan needs blocks, a block size and at least one slot, got {n_blocks}, {block_bytes}, "
                         f"{slots}")  # fmt: skip
    if fixed_bytes + n_blocks * block_bytes + working_bytes <= budget_bytes:
        return Plan(tuple(range(n_blocks)), (), 0, block_bytes, fixed_bytes, working_bytes, budget_bytes)
    slots = min(slots, n_blocks)
    least = fixed_bytes + slots * block_bytes + working_bytes
    if least > budget_bytes:
        raise ValueError(
            f"a GPU memory budget of {_size(budget_bytes)} is below what {what} needs at the least: {_size(least)} "
            f"({_size(fixed_bytes)} of weights outside the blocks, {slots} streaming slots of {_size(block_bytes)}, "
            f"{_size(working_bytes)} for this run's activations); give at least {math.ceil(least / GiB * 10) / 10} "
            "GiB, or a smaller size / fewer frames"
        )
    resident = min(n_blocks - slots, (budget_bytes - least) // block_bytes)
    k = n_blocks - resident
    streamed = sorted({min(n_blocks - 1, int((i + 0.5) * n_blocks / k)) for i in range(k)})
    i = 0
    while len(streamed) < k:  # (rounding can merge two picks: fill from the start)
        if i not in streamed:
            streamed = sorted([*streamed, i])
        i += 1
    resident_ids = tuple(i for i in range(n_blocks) if i not in set(streamed))
    return Plan(resident_ids, tuple(streamed), slots, block_bytes, fixed_bytes, working_bytes, budget_bytes)


def plan_or_all(n_blocks: int, block_bytes: int, fixed_bytes: int, working_bytes: int, budget_bytes: int | None,
                slots: int = 2) -> Plan:  # fmt: skip
    """`plan` for a budget; without one every block streams (the official `--offload`)."""
    if budget_bytes is not None:
        return plan(n_blocks, block_bytes, fixed_bytes, working_bytes, budget_bytes, slots)
    return Plan((), tuple(range(n_blocks)), min(slots, n_blocks), block_bytes, fixed_bytes, working_bytes, 0)


def sizes(model: nn.Module, blocks_attr: str, dtype: torch.dtype) -> tuple[int, int]:
    """(bytes of the largest block, bytes of everything else) once on the device in `dtype` (float8 weights and
    their scales as stored; each block tensor padded to the slot alignment)."""
    from ltx.dit.loading import keep_stored_dtype

    def final(name: str, t: torch.Tensor) -> torch.Tensor:
        keep = not t.is_floating_point() or keep_stored_dtype(name, t)
        return torch.empty(t.shape, dtype=t.dtype if keep else dtype, device="meta")

    blocks = model.get_submodule(blocks_attr)
    block_bytes = max(Layout.of({n: final(n, t) for n, t in block_tensors(b).items()}).nbytes for b in blocks)
    everything = sum(final(n, t).numel() * final(n, t).element_size() for n, t in block_tensors(model).items())
    blocks_total = sum(final(n, t).numel() * final(n, t).element_size()
                       for b in blocks for n, t in block_tensors(b).items())  # fmt: skip
    return block_bytes, everything - blocks_total


WORKING_PER_TOKEN_DIM = 64  # bytes of activations per token per model width (measured: 1.45 GiB at 6,270 tokens x 4096)
WORKING_MARGIN = GiB  # text contexts, the sampler's state, conditioning, the allocator's slack


def working_bytes(frames: int, height: int, width: int, fps: float, dim: int) -> int:
    """The activations of one transformer call of batch 1 for a clip (video and audio tokens), with a margin."""
    video = ((frames - 1) // 8 + 1) * (height // 32) * (width // 32)
    audio = math.ceil(frames / fps * 25) + 1
    activations = WORKING_PER_TOKEN_DIM * dim * (video + audio)
    return activations + activations // 4 + WORKING_MARGIN  # (+ 1/4: the allocator's fragmentation under a cap)


def cap(device, gib: float) -> None:
    """Make `gib` GiB a hard limit for this process on a CUDA device (torch's per-process memory fraction), with
    the allocator's expandable segments unless PYTORCH_CUDA_ALLOC_CONF says otherwise (fixed segments leave gaps of
    ~2 GB between the activations of a 1024x1536x121 call, measured: under a cap that is an out-of-memory error)."""
    device = torch.device(device)
    total = torch.cuda.get_device_properties(device).total_memory
    if gib * GiB > total:
        raise ValueError(f"a GPU memory budget of {gib:g} GiB is more than the device's {total / GiB:.1f} GiB")
    if "PYTORCH_CUDA_ALLOC_CONF" not in os.environ:
        torch.cuda.memory._set_allocator_settings("expandable_segments:True")
    torch.cuda.set_per_process_memory_fraction(gib * GiB / total, device)


def pinned(nbytes: int) -> torch.Tensor:
    """`nbytes` of host memory the GPU can copy from asynchronously. Registered with the driver directly: torch's
    pin_memory=True rounds each request up to a power of two (a 0.8 GB block would take 1 GB)."""
    buffer = torch.empty(nbytes, dtype=torch.uint8)
    if not torch.cuda.is_available() or nbytes == 0:
        return buffer
    cudart = torch.cuda.cudart()
    ptr = buffer.data_ptr()
    if int(cudart.cudaHostRegister(ptr, nbytes, 0)) != 0:
        return torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)  # (registration refused: torch's way)
    weakref.finalize(buffer.untyped_storage(), cudart.cudaHostUnregister, ptr)
    return buffer


# -- sources ---------------------------------------------------------------------------------------
class PinnedSource:
    """Every streamed block's final bytes in host memory (pinned when CUDA is there)."""

    def __init__(self, buffers: dict[int, torch.Tensor]):
        self.buffers = buffers
        self.host_bytes = sum(b.numel() for b in buffers.values())

    def fetch(self, index: int, slot: torch.Tensor, views: dict[str, torch.Tensor], copy_stream) -> None:
        src = self.buffers[index]
        slot[: src.numel()].copy_(src, non_blocking=copy_stream is not None)

    def close(self) -> None:
        self.buffers.clear()


class FileSource:
    """Each streamed block read from the checkpoint's memory map for every call, by a worker thread into one of two
    pinned staging buffers (the next block's read starts as soon as this one's copy is queued), then made final on
    the device by `finish(index, file_views, slot_views)`."""

    def __init__(self, read, file_layouts: dict[int, Layout], finish, order: tuple[int, ...], pin: bool):
        self.read, self.layouts, self.finish = read, file_layouts, finish
        self.next_of = {b: order[(k + 1) % len(order)] for k, b in enumerate(order)}  # (what to read ahead)
        size = max(lay.nbytes for lay in file_layouts.values())
        self.staging = [pinned(size) if pin else torch.empty(size, dtype=torch.uint8) for _ in range(2)]
        self.done: list[torch.cuda.Event | None] = [None, None]  # the copy out of each staging buffer
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="ltx-stream")
        self.pending: dict[int, tuple[Future, int]] = {}
        self.turn = 0
        self.reads = 0  # blocks read from the file (tests count them)

    def _prepare(self, index: int) -> None:
        if index in self.pending:
            return
        k, self.turn = self.turn, 1 - self.turn
        for other, (future, kk) in list(self.pending.items()):
            if kk == k:  # a read nobody took: its buffer is needed (each pending read owns its buffer)
                future.result()
                del self.pending[other]
        self.pending[index] = (self.pool.submit(self._load, index, k, self.done[k]), k)

    def _load(self, index: int, k: int, done) -> None:
        if done is not None:
            done.synchronize()  # the copy out of this buffer has finished
        views = self.layouts[index].carve(self.staging[k])
        for name, t in self.read(index).items():
            views[name].copy_(t)
        self.reads += 1

    def fetch(self, index: int, slot: torch.Tensor, views: dict[str, torch.Tensor], copy_stream) -> None:
        self._prepare(index)
        future, k = self.pending.pop(index)
        future.result()
        layout = self.layouts[index]
        if copy_stream is None:
            self.finish(index, layout.carve(self.staging[k]), views)
        else:
            device_file = torch.empty(layout.nbytes, dtype=torch.uint8, device=slot.device)
            device_file.copy_(self.staging[k][: layout.nbytes], non_blocking=True)
            self.done[k] = torch.cuda.Event()
            self.done[k].record(copy_stream)
            self.finish(index, layout.carve(device_file), views)
        if index in self.next_of:
            self._prepare(self.next_of[index])  # into the other buffer, whose copy out is queued already

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.pending.clear()
        self.staging.clear()


# -- the streamer ----------------------------------------------------------------------------------
class BlockStreamer:
    """Serves `blocks[i]` for i in `streamed` from `source` through `slots` device buffers (see the module)."""

    def __init__(self, blocks: nn.ModuleList, streamed: tuple[int, ...], layout: Layout, source, device,
                 slots: int = 2):  # fmt: skip
        self.blocks, self.streamed, self.layout, self.source = blocks, tuple(streamed), layout, source
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.copy_stream = torch.cuda.Stream(self.device) if self.cuda else None
        n = min(slots, len(self.streamed))
        self.slots = [torch.empty(layout.nbytes, dtype=torch.uint8, device=self.device) for _ in range(n)]
        self.slot_views = [layout.carve(s) for s in self.slots]
        self.slot_of = {b: k % n for k, b in enumerate(self.streamed)}
        self.next_of = {b: self.streamed[(k + 1) % len(self.streamed)] for k, b in enumerate(self.streamed)}
        self.loaded: dict[int, int] = {}  # slot -> the block in it (copied or being copied)
        self.ready: dict[int, torch.cuda.Event] = {}  # block -> its copy-done event
        self.free: dict[int, torch.cuda.Event] = {}  # slot -> the compute-done event of its last block
        self.copies = 0  # block copies made (tests count them)
        self.hooks = []
        for b in self.streamed:
            _point(blocks[b], self.slot_views[self.slot_of[b]])
            self.hooks.append(blocks[b].register_forward_pre_hook(lambda m, a, b=b: self._before(b)))
            self.hooks.append(blocks[b].register_forward_hook(lambda m, a, o, b=b: self._after(b)))

    def _fetch(self, b: int) -> None:
        """Start copying block `b` into its slot (after the compute that last read the slot)."""
        k = self.slot_of[b]
        if self.loaded.get(k) == b:
            return
        self.loaded[k] = b
        self.copies += 1
        if not self.cuda:
            self.source.fetch(b, self.slots[k], self.slot_views[k], None)
            return
        with torch.cuda.stream(self.copy_stream):
            if k in self.free:
                self.copy_stream.wait_event(self.free[k])
            self.source.fetch(b, self.slots[k], self.slot_views[k], self.copy_stream)
            event = torch.cuda.Event()
            event.record(self.copy_stream)
        self.ready[b] = event

    def _before(self, b: int) -> None:
        self._fetch(b)
        event = self.ready.pop(b, None)  # (none: the block has stayed in its slot since an earlier call)
        if event is not None:
            torch.cuda.current_stream(self.device).wait_event(event)
        _point(self.blocks[b], self.slot_views[self.slot_of[b]])
        nxt = self.next_of[b]
        if self.slot_of[nxt] != self.slot_of[b]:  # (one slot: fetched when its turn comes)
            self._fetch(nxt)

    def _after(self, b: int) -> None:
        k = self.slot_of[b]
        if self.cuda:
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(self.device))
            self.free[k] = event
        nxt = self.next_of[b]
        if nxt != b and self.slot_of[nxt] == k:
            self.loaded.pop(k, None)  # the next block overwrites this slot

    def close(self) -> None:
        """Remove the hooks and let the buffers go (the model cannot run its streamed blocks after)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
        for h in self.hooks:
            h.remove()
        self.hooks.clear()
        self.source.close()
        self.slots.clear()
        self.slot_views.clear()


# -- building a streamed model ---------------------------------------------------------------------
def stream(model: nn.Module, blocks_attr: str, layout_plan: Plan, *, device, finalize, source: str = "cpu",
           read=None, load_cast=None) -> BlockStreamer | None:  # fmt: skip
    """Put `model` (loaded on the CPU, its tensors as the loader made them) on `device` as `layout_plan` says:
    everything but the blocks and the resident blocks moved there; the streamed blocks served by a BlockStreamer
    from `source`. `finalize(module, prefix)` makes a module on the device final in place, exactly as the
    resident model is made (LoRA fusion, the last cast; `prefix` its state-dict prefix, "" for the model without
    its blocks). "disk" needs `read(i)` (block i's tensors from the file, in the file's dtypes) and
    `load_cast(name, tensor)` (the loader's cast of one of them). Returns None when nothing streams."""
    device = torch.device(device)
    blocks = model.get_submodule(blocks_attr)
    parent, _, leaf = blocks_attr.rpartition(".")
    holder = model.get_submodule(parent) if parent else model
    setattr(holder, leaf, nn.ModuleList())  # the rest of the model first, without its blocks
    model.to(device)
    finalize(model, "")
    setattr(holder, leaf, blocks)
    for i in layout_plan.resident:
        blocks[i].to(device)
        finalize(blocks[i], f"{blocks_attr}.{i}.")
    if not layout_plan.streamed:
        return None
    if source not in ("cpu", "disk"):
        raise ValueError(f"offload source must be 'cpu' or 'disk', got {source!r}")
    pin = device.type == "cuda"
    layout, buffers = None, {}
    for i in layout_plan.streamed if source == "cpu" else layout_plan.streamed[:1]:
        block = blocks[i]
        host = {name: t.data for name, t in block_tensors(block).items()}  # (to() replaces the data, not the tensors)
        block.to(device)
        finalize(block, f"{blocks_attr}.{i}.")
        tensors = block_tensors(block)
        layout = layout or Layout.of(tensors)
        if Layout.of(tensors) != layout:
            raise ValueError(f"{blocks_attr}.{i} is laid out unlike the other streamed blocks: it cannot share slots")
        if source == "cpu":
            buffers[i] = pinned(layout.nbytes) if pin else torch.empty(layout.nbytes, dtype=torch.uint8)
            views = layout.carve(buffers[i])
            for name, t in tensors.items():
                views[name].copy_(t)
            _point(block, views)  # (the device copy goes)
        else:
            _point(block, host)
    if source == "cpu":
        src = PinnedSource(buffers)
    else:
        if read is None or load_cast is None:
            raise ValueError("streaming from disk needs read(i) and load_cast(name, tensor)")

        def finish(i: int, file_views: dict[str, torch.Tensor], slot_views: dict[str, torch.Tensor]) -> None:
            block = blocks[i]
            _point(block, {name: load_cast(name, t) for name, t in file_views.items()})
            finalize(block, f"{blocks_attr}.{i}.")
            for name, t in block_tensors(block).items():
                slot_views[name].copy_(t)

        # the blocks that leave their slot in a call are read again; one alone in its slot stays there
        n = min(layout_plan.slots, len(layout_plan.streamed))
        shared = [b for k, b in enumerate(layout_plan.streamed) if sum(1 for j in range(len(layout_plan.streamed))
                                                                       if j % n == k % n) > 1]  # fmt: skip
        src = FileSource(read, {i: Layout.of(read(i)) for i in layout_plan.streamed}, finish,
                         tuple(shared) or layout_plan.streamed, pin)  # fmt: skip
    return BlockStreamer(blocks, layout_plan.streamed, layout, src, device, layout_plan.slots)


TEXT_WORKING = GiB  # a 1,024-token prompt through a text encoder, all its hidden states kept


def stream_loaded(model: nn.Module, blocks_attr: str, device, gib: float, what: str) -> BlockStreamer | None:
    """`stream` for a model loaded on the CPU in its final form (no LoRA, its dtype already): the blocks that do
    not fit `gib` GiB stream from pinned host memory."""
    blocks = model.get_submodule(blocks_attr)
    block_bytes, fixed = sizes(model, blocks_attr, next(model.parameters()).dtype)
    layout_plan = plan(len(blocks), block_bytes, fixed, TEXT_WORKING, gib * GiB, what=what)
    return stream(model, blocks_attr, layout_plan, device=device, finalize=lambda module, prefix: None)
