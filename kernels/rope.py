"""QK RMSNorm + rotary embedding references: the math lives in `ltx.nn.rope` (the model's own code); the
Triton kernel in `triton_rope` fuses it and is checked against these names."""

from ltx.nn.rope import qk_norm_rope as qk_norm_rope_ref
from ltx.nn.rope import rotate as rotate_ref

__all__ = ["qk_norm_rope_ref", "rotate_ref"]
