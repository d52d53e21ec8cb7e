"""`python -m bench [suites...] [--out DIR]`: kernel and end-to-end benchmarks on the GPU, each beside its
peers in the same run. Suites: ceilings, attention, norm, gemm (bench/kernels.py), e2e and e2e-compiled
(bench/transformer_e2e.py); default: all. Prints a table and writes it as CSV and JSON (with the device, torch and
triton versions)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUITES = ("ceilings", "attention", "norm", "gemm", "e2e", "e2e-compiled")


def _table(rows: list[dict]) -> str:
    lines = [f"{'case':<34} {'peer':<46} {'ms':>9} {'rate':>14} {'rel err':>9} {'ratio':>6}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['case']:<34} {r['peer']:<46} {'-':>9} {r['error'][:40]}")
            continue
        rate = next((f"{r[k]:.1f} {k}" for k in ("TFLOP/s", "TB/s") if k in r), "")
        if "peak_gib_above_weights" in r:
            rate = f"{r['peak_gib_above_weights']:.2f} GiB"
        err = f"{r['rel_err']:.1e}" if "rel_err" in r else f"{r['rel_err_video']:.1e}" if "rel_err_video" in r else ""
        ratio = f"{r['time_ratio_vs_ltx_core']:.3f}" if "time_ratio_vs_ltx_core" in r else ""
        lines.append(f"{r['case']:<34} {r['peer']:<46} {r['seconds'] * 1e3:>9.3f} {rate:>14} {err:>9} {ratio:>6}")
    return "\n".join(lines)


def main() -> int:
    import torch
    import triton

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", default=list(SUITES), choices=SUITES)
    parser.add_argument("--out", type=Path, help="write <stamp>-<suite>.csv/.json here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("python -m bench: needs a CUDA device", file=sys.stderr)
        return 2
    from bench import kernels, transformer_e2e

    env = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
           "cuda": torch.version.cuda, "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    runners = {"ceilings": kernels.ceilings, "attention": kernels.attention, "norm": kernels.norm,
               "gemm": kernels.gemm, "e2e": transformer_e2e.run,
               "e2e-compiled": transformer_e2e.run_compiled}  # fmt: skip
    all_rows = {}
    for suite in args.suites:
        rows = runners[suite]()
        all_rows[suite] = rows
        print(f"\n[{suite}]\n{_table(rows)}", flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            stem = args.out / f"{env['date']}-{suite}"
            stem.with_suffix(".json").write_text(json.dumps({**env, "rows": rows}, indent=1) + "\n")
            keys = sorted({k for r in rows for k in r})
            with open(stem.with_suffix(".csv"), "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
