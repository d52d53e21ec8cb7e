"""Checkpointed blocks' saved inputs kept in pinned host memory until the backward pass (`offload_activations`).

With gradient checkpointing a step keeps, per block, only the hidden states that enter it (video and audio); at
512x768x121 that is 48 x 50 MB on the GPU for the whole forward and backward. `HostActivations` is a
saved-tensors hook applied around the forward: every saved tensor that requires grad and lives on the GPU (those
hidden states: outputs of the trained layers before the block) is copied to pinned host memory on a side stream
(the copy overlaps the next block), and brought back on the compute stream when the backward's recompute asks for
it. Saved tensors that need no grad (the text context, RoPE, timesteps: one copy shared by every block) stay. Inside
a checkpointed block its own hooks win, so nothing else moves; a compiled block saves only its inputs. Values are
restored exactly: the step's result is bitwise the resident one's.
"""

from __future__ import annotations

import torch


class HostActivations(torch.autograd.graph.saved_tensors_hooks):
    """`with HostActivations(): loss = f(model(x))` then `loss.backward()` (outside is fine: the hooks act when a
    tensor is saved). `moved` counts the tensors sent to the host."""

    def __init__(self) -> None:
        self.streams: dict[torch.device, torch.cuda.Stream] = {}
        self.moved = 0
        super().__init__(self._pack, self._unpack)

    def moves(self, t: torch.Tensor) -> bool:
        return t.requires_grad and t.is_cuda

    def _pack(self, t: torch.Tensor):
        if not self.moves(t):
            return t
        self.moved += 1
        host = torch.empty_like(t, device="cpu", pin_memory=t.is_cuda)
        if not t.is_cuda:  # (a test's stand-in: a host copy of a host tensor)
            return t.device, host.copy_(t), None
        side = self.streams.setdefault(t.device, torch.cuda.Stream(t.device))
        side.wait_stream(torch.cuda.current_stream(t.device))  # after the kernels that made t
        with torch.cuda.stream(side):
            host.copy_(t, non_blocking=True)
        t.record_stream(side)  # t's memory is not reused before the copy has read it
        done = torch.cuda.Event()
        done.record(side)
        return t.device, host, done

    def _unpack(self, packed):
        if isinstance(packed, torch.Tensor):
            return packed
        device, host, done = packed
        if done is not None:
            torch.cuda.current_stream(device).wait_event(done)
        return host.to(device, non_blocking=True)
