"""`ltx bench [suites] --out DIR` (also `python -m bench`): kernel and end-to-end benchmarks on the GPU, each
beside its peers in the same run. Suites: ceilings, attention, attention-sweep, norm, gemm (ltx/bench/kernels.py),
e2e, e2e-compiled (ltx/bench/e2e.py), ltxv-forward, ltxv-generate (LTX-Video, ltx/bench/ltxv.py), offload
(block streaming under a memory budget, ltx/bench/offload.py), train (a 19B LoRA step beside ltx-trainer's,
ltx/bench/train.py), parallel (under torchrun: the 19B on N GPUs against 1, ltx/bench/parallel.py); default: all
but the sweep, LTX-Video, offload, train and parallel.
Prints a table per suite and writes `<date>-<suite>.json` and `.csv` (with the device, torch, triton and CUDA
versions) and, where the suite has one, a `.png` plot (matplotlib). `--plot FILE.json ...` redraws the plots of
saved results (no GPU needed)."""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import sys
import time
from pathlib import Path

SUITES = (
    "ceilings",
    "attention",
    "attention-sweep",
    "norm",
    "gemm",
    "e2e",
    "e2e-compiled",
    "ltxv-forward",
    "ltxv-generate",
    "offload",
    "train",
    "parallel",
)
RATIOS = ("time_ratio_vs_ltx_core", "time_ratio_vs_resident", "time_ratio_vs_ltx_trainer", "speedup_vs_1_gpu")
DEFAULT = ("ceilings", "attention", "norm", "gemm", "e2e", "e2e-compiled")


def table(rows: list[dict]) -> str:
    lines = [f"{'case':<34} {'peer':<46} {'ms':>9} {'rate':>14} {'rel err':>9} {'ratio':>6}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['case']:<34} {r['peer']:<46} {'-':>9} {r['error'][:40]}")
            continue
        rate = next((f"{r[k]:.1f} {k}" for k in ("TFLOP/s", "TB/s") if k in r), "")
        peak = r.get("peak_gib_above_weights", r.get("peak_gib"))
        if peak is not None:
            rate = f"{peak:.2f} GiB"
        err = f"{r['rel_err']:.1e}" if "rel_err" in r else f"{r['rel_err_video']:.1e}" if "rel_err_video" in r else ""
        ratio = next((f"{r[k]:.3f}" for k in RATIOS if k in r), "")
        lines.append(f"{r['case']:<34} {r['peer']:<46} {r['seconds'] * 1e3:>9.3f} {rate:>14} {err:>9} {ratio:>6}")
    return "\n".join(lines)


def write(out: Path, suite: str, env: dict, rows: list[dict]) -> Path:
    """<date>-<suite>.json and .csv under `out`; returns the JSON's path."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{env['date']}-{suite}"
    stem.with_suffix(".json").write_text(json.dumps({**env, "suite": suite, "rows": rows}, indent=1) + "\n")
    keys = sorted({k for r in rows for k in r})
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return stem.with_suffix(".json")


def environment() -> dict:
    """What a result file records beside its rows: the device, torch, triton and CUDA versions, the date."""
    import torch
    import triton

    return {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "date": time.strftime("%Y-%m-%d")}  # fmt: skip


def _runners() -> dict:
    from ltx.bench import e2e, kernels, ltxv, offload, parallel, train

    return {"ceilings": kernels.ceilings, "attention": kernels.attention, "attention-sweep": kernels.attention_sweep,
            "norm": kernels.norm, "gemm": kernels.gemm, "e2e": e2e.run, "e2e-compiled": e2e.run_compiled,
            "ltxv-forward": ltxv.forward, "ltxv-generate": ltxv.generate, "offload": offload.run,
            "train": train.run, "parallel": parallel.run}  # fmt: skip


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks on the GPU beside their peers (CSV, JSON, plots)", description=__doc__)
    _arguments(p)
    p.set_defaults(run=run)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suites", nargs="*", metavar="SUITE", help=f"{', '.join(SUITES)}; default: {' '.join(DEFAULT)}")
    p.add_argument("--out", type=Path, help="write <date>-<suite>.json / .csv / .png here")
    p.add_argument("--plot", type=Path, nargs="+", metavar="JSON", help="redraw the plots of saved results")
    p.add_argument("--repeats", type=int, metavar="N", help="timed repeats per case (the suites that time repeats)")


def run(args: argparse.Namespace) -> int:
    from ltx.bench.plots import plot

    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        print(f"ltx bench: unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    if args.repeats is not None and args.repeats < 1:
        print(f"ltx bench: --repeats must be at least 1, got {args.repeats}", file=sys.stderr)
        return 2
    if args.plot:
        for path in args.plot:
            made = plot(json.loads(path.read_text()), (args.out or path.parent) / path.with_suffix(".png").name)
            print(made or f"{path}: no plot for this suite")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("ltx bench: the benchmarks need a CUDA device (--plot redraws saved results)", file=sys.stderr)
        return 2
    env = environment()
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    runners = _runners()
    for suite in args.suites or DEFAULT:
        takes = "repeats" in inspect.signature(runners[suite]).parameters
        rows = runners[suite](repeats=args.repeats) if takes and args.repeats else runners[suite]()
        if not rows:  # (parallel: the processes after the first report nothing)
            continue
        print(f"\n[{suite}]\n{table(rows)}", flush=True)
        if args.out:
            path = write(args.out, suite, env, rows)
            plot({**env, "suite": suite, "rows": rows}, path.with_suffix(".png"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    _arguments(parser)
    return run(parser.parse_args(argv))
