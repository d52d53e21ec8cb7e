"""3-D neighbourhood attention: the PyTorch reference.

Each query at (t, h, w) attends to the kt x kh x kw keys of a window around it. Along each axis of length
L the window of size k starts at clamp(i - k // 2, 0, L - k): centred in the interior, shifted inward at
the borders (every query sees exactly k positions per axis, so L >= k is required). Tensors are
(B, T, H, W, heads, head_dim). The queries are processed in slabs of rows so that the gathered keys stay
within a memory budget whatever the volume; the arithmetic is float32 (float64 for float64 inputs)
and the result has v's dtype.
"""

from __future__ import annotations

import torch

# Elements of gathered keys (and as many values) per slab of queries.
GATHER_BUDGET = 2**26


def window_starts(length: int, kernel: int, device: torch.device | str | None = None) -> torch.Tensor:
    """First key index of each position's window along one axis."""
    i = torch.arange(length, device=device)
    return (i - kernel // 2).clamp(0, length - kernel)


def check_window(shape: tuple[int, ...], kernel: tuple[int, int, int]) -> None:
    if any(n < k for n, k in zip(shape, kernel, strict=True)):
        raise ValueError(
            f"neighbourhood attention needs a grid of at least the window in every axis: "
            f"grid (T, H, W) = {tuple(shape)}, window {tuple(kernel)}"
        )


def neighborhood_attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kernel: tuple[int, int, int],
    scale: float | None = None,
    budget: int = GATHER_BUDGET,
) -> torch.Tensor:
    """softmax(q . k_window * scale) v_window for every query; scale defaults to head_dim ** -0.5."""
    b, t, h, w, heads, d = q.shape
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k and v must have one shape (B, T, H, W, heads, D); got {q.shape}, {k.shape}, {v.shape}")
    check_window((t, h, w), kernel)
    kt, kh, kw = kernel
    scale = d**-0.5 if scale is None else scale
    dev = q.device
    rows_t = window_starts(t, kt, dev)[:, None] + torch.arange(kt, device=dev)  # (T, kt) key frames of each frame
    rows_h = window_starts(h, kh, dev)[:, None] + torch.arange(kh, device=dev)
    cols_w = window_starts(w, kw, dev)[:, None] + torch.arange(kw, device=dev)
    per_row = b * w * kt * kh * kw * heads * d  # gathered key elements for one row of queries
    rows = max(1, min(h, budget // per_row))
    out = torch.empty(q.shape, dtype=v.dtype, device=dev)
    acc = torch.promote_types(q.dtype, torch.float32)  # float32, or float64 for float64 inputs
    idx_w = cols_w[None, :, None, None, :]  # -> (r, W, kt, kh, kw) windows
    for ti in range(t):
        idx_t = rows_t[ti][None, None, :, None, None]
        for h0 in range(0, h, rows):
            idx_h = rows_h[h0 : h0 + rows][:, None, None, :, None]
            r = idx_h.shape[0]
            k_win = k[:, idx_t, idx_h, idx_w].flatten(3, 5).to(acc)  # (B, r, W, window, heads, D)
            v_win = v[:, idx_t, idx_h, idx_w].flatten(3, 5).to(acc)
            query = q[:, ti, h0 : h0 + r].to(acc).unsqueeze(3)  # (B, r, W, 1, heads, D)
            weights = ((query * k_win).sum(-1) * scale).softmax(3)  # (B, r, W, window, heads)
            out[:, ti, h0 : h0 + r] = (weights.unsqueeze(-1) * v_win).sum(3).to(v.dtype)
    return out


def neighborhood_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: tuple[int, int, int], scale: float | None = None
) -> torch.Tensor:
    """The model's call site: the Triton kernel on CUDA where it applies (ltx_kernels), else the reference."""
    import ltx_kernels

    return ltx_kernels.neighborhood_attention(q, k, v, kernel, scale)
