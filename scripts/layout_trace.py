"""Which of the layout-sensitive ops see other memory layouts in our one-stage generation than in the official flow.

Both one-stage flows on the CPU (the tiny file, bf16, the exact ops) under ltx.parity.layouts.Record: each line
printed is an op whose operands one flow lays out differently, a place the GPU may round differently although the
CPU agrees. No GPU needed.

    python scripts/layout_trace.py [--frames 9 --height 64 --width 96 --steps 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument(
        "--every-op",
        action="store_true",
        help="every computing op, not only the layout-sensitive ones "
        "(an op one side calls and the other not: e.g. a fused multiply-add, rounded once on the GPU)",
    )
    p.add_argument("--counts", action="store_true", help="also where only the number of calls differs")
    a = p.parse_args()
    from pipeline_e2e import setup

    from ltx.parity.layouts import differences, record_run
    from ltx.parity.pipelines import run_official, run_ours

    inputs, req = setup(Path("tiny"), a.frames, a.height, a.width, a.steps)
    records = {side: record_run(lambda r=runner: r("one-stage", inputs, torch.bfloat16, req, "cpu"), a.every_op)
               for side, runner in (("ours", run_ours), ("official", run_official))}  # fmt: skip
    lines = differences(records["ours"], records["official"], counts=a.counts)
    print("\n".join(lines) or "every layout-sensitive call agrees in shape, strides, alignment and dtype")


if __name__ == "__main__":
    main()
