"""Linear layers for float8 checkpoints, and the swap that installs them where a file has fp8 weights.

Two layouts ship:
- fp8-cast: `weight` (and often `bias`) stored as float8_e4m3fn with no scale; upcast to the
  input's dtype at run time, layer by layer, so the model stays fp8 in memory.
- scaled: `weight` float8 (out, in) with `weight_scale` (0-d, W ~= W8 * scale) and usually
  `input_scale` (0-d, the static activation scale); `bias` in bf16.
Which layers are which is read from the file, per layer.
"""

from __future__ import annotations

import ltx_kernels
import torch
import torch.nn.functional as F
from torch import nn

from ltx.checkpoint import FP8_DTYPES


class FP8CastLinear(nn.Linear):
    """nn.Linear whose stored weight/bias may be float8; computes in the input's dtype (the official
    arithmetic). `ltx_kernels.use(fp8_cast_gemm=True)` (or LTX_FP8_CAST_GEMM=1) runs float8 weights on the FP8
    tensor cores instead, with the activations quantised per token: faster, at the cost of the activations'
    rounding to e4m3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if self.weight.dtype == torch.float8_e4m3fn and x.is_cuda and ltx_kernels.settings().fp8_cast_gemm:
            one = torch.ones((), device=x.device)
            return ltx_kernels.fp8_linear(x, self.weight, one, None, bias)
        return F.linear(x, self.weight.to(x.dtype), bias)


class ScaledFP8Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool, input_scale: bool):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(
            torch.empty(out_features, in_features, dtype=torch.float8_e4m3fn), requires_grad=False
        )
        self.weight_scale = nn.Parameter(torch.empty((), dtype=torch.float32), requires_grad=False)
        self.input_scale = (
            nn.Parameter(torch.empty((), dtype=torch.float32), requires_grad=False) if input_scale else None
        )
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ltx_kernels.fp8_linear(x, self.weight, self.weight_scale, self.input_scale, self.bias)

    def extra_repr(self) -> str:
        static = self.input_scale is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, static_input_scale={static}"


def install_fp8_layers(model: nn.Module, dtypes: dict[str, torch.dtype]) -> dict[str, int]:
    """Replace each nn.Linear whose weight the file stores in float8 (`dtypes`: key -> dtype, keys
    relative to `model`). Works on the meta device, before loading. Returns counts per kind."""
    counts = {"fp8_cast": 0, "fp8_scaled": 0}
    for name, module in list(model.named_modules()):
        if type(module) is not nn.Linear or dtypes.get(f"{name}.weight") not in FP8_DTYPES:
            continue
        has_bias = module.bias is not None
        if f"{name}.weight_scale" in dtypes:
            new = ScaledFP8Linear(module.in_features, module.out_features, has_bias, f"{name}.input_scale" in dtypes)
            counts["fp8_scaled"] += 1
        else:
            new = FP8CastLinear(module.in_features, module.out_features, has_bias)
            counts["fp8_cast"] += 1
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return counts
