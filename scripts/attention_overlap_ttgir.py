"""Can Triton overlap the softmax with the next key block's Q K^T on Hopper (FlashAttention-3's intra-warpgroup
pipelining)? Compiles, for sm90 and without a GPU, our TMA attention kernel and a variant that issues block j+1's
Q K^T before block j's softmax, and prints where Triton waits on each asynchronous wgmma (`warp_group_dot_wait`,
`pendings` = how many may stay in flight). The overlap needs the next block's product left in flight through the
softmax (a wait with pendings = 1 there); Triton waits with pendings = 0 right after issuing it. bench/KERNELS.md.

    python scripts/attention_overlap_ttgir.py [BLOCK_M BLOCK_N]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "kernels"))
from triton_attention_tma import _attn_fwd_tma, _softmax_pv  # noqa: E402


@triton.jit
def _attn_fwd_overlap(desc_q, desc_k, desc_v, desc_o, H, Tq, Tk, scale_log2,
                      D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, WS: tl.constexpr):  # fmt: skip
    """The key loop software-pipelined by hand: block j+1's scores are issued, then block j's softmax and P V."""
    b, hd = tl.program_id(1) // H, (tl.program_id(1) % H) * D
    m0 = tl.program_id(0) * BLOCK_M
    q = desc_q.load([b, m0, hd]).reshape(BLOCK_M, D)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    last = (tl.cdiv(Tk, BLOCK_N) - 1) * BLOCK_N
    s = tl.dot(q, desc_k.load([b, 0, hd]).reshape(BLOCK_N, D).T)
    for start in tl.range(0, last, BLOCK_N):
        s_next = tl.dot(q, desc_k.load([b, start + BLOCK_N, hd]).reshape(BLOCK_N, D).T)
        m_i, l_i, acc = _softmax_pv(s, desc_v, b, start, hd, m_i, l_i, acc, Tk, scale_log2, D, BLOCK_N, False)
        s = s_next
    m_i, l_i, acc = _softmax_pv(s, desc_v, b, last, hd, m_i, l_i, acc, Tk, scale_log2, D, BLOCK_N, True)
    desc_o.store([b, m0, hd], (acc / l_i[:, None]).to(q.dtype).reshape(1, BLOCK_M, D))


def waits(fn, block_m: int, block_n: int, d: int = 128) -> list[str]:
    """The kernel's wgmma issues and waits, in program order, from its TTGIR for sm90 (bf16, 8 warps, 2 stages)."""
    tile = lambda rows: f"tensordesc<bf16[1,{rows},{d}]>"  # noqa: E731
    signature = {"desc_q": tile(block_m), "desc_k": tile(block_n), "desc_v": tile(block_n), "desc_o": tile(block_m),
                 "H": "i32", "Tq": "i32", "Tk": "i32", "scale_log2": "fp32"}  # fmt: skip
    constants = {"D": d, "BLOCK_M": block_m, "BLOCK_N": block_n, "WS": False}
    signature.update(dict.fromkeys(constants, "constexpr"))
    source = ASTSource(fn=fn, signature=signature, constexprs=constants)
    ttgir = triton.compile(source, target=GPUTarget("cuda", 90, 128), options={"num_warps": 8, "num_stages": 2})
    out, loops = [], []  # (loops: the indentation of each open scf.for; its closing brace has the same)
    for line in ttgir.asm["ttgir"].splitlines():
        indent = len(line) - len(line.lstrip())
        pendings = re.search(r"pendings = (\d+)", line)
        if "scf.for" in line:
            loops.append(indent)
            out.append("loop[")
        elif loops and line.lstrip().startswith("}") and indent == loops[-1]:
            loops.pop()
            out.append("]")
        elif "ttng.warp_group_dot_wait" in line:
            out.append(f"wait(pendings={pendings.group(1)})")
        elif "ttng.warp_group_dot " in line:
            out.append("wgmma-async" if "isAsync = true" in line else "wgmma")
    return out
    return out


if __name__ == "__main__":
    bm, bn = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (128, 128)
    print(f"Triton {triton.__version__}, sm90, BLOCK_M={bm} BLOCK_N={bn}, d=128, bf16")
    for label, fn in (
        ("as committed (triton_attention_tma)", _attn_fwd_tma),
        ("next Q K^T first", _attn_fwd_overlap),
    ):
        print(f"{label}: {' '.join(waits(fn, bm, bn))}")
