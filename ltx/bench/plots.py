"""Plots of benchmark results (matplotlib, optional: without it the plots are skipped with one line).

- attention-sweep: TFLOP/s against the sequence length, one line per implementation;
- attention: TFLOP/s per case, one bar per implementation;
- e2e, e2e-compiled: time per variant as bars, one group per size, each bar labelled with its ratio to the
  best official variant of its size (ltx-core 1.2.0 compiled + captured where present, else ltx-core);
- ltxv-forward, ltxv-generate: the same, against diffusers (forward) and ltx-video's pipelines (generation);
- offload: the same, against our all-resident call.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

OFFICIAL = ("ltx-core 1.2.0 compiled + captured", "ltx-core")


def plot(result: dict, path: Path) -> Path | None:
    """Draw `result` (a saved suite: env keys, "suite", "rows") to `path`; None where the suite has no plot."""
    suite = result.get("suite") or _guess(result["rows"])
    draw = {"attention-sweep": _sweep, "attention": _bars_per_case, "e2e": _e2e, "e2e-compiled": _e2e,
            "ltxv-forward": partial(_e2e, official=("diffusers",)),
            "ltxv-generate": partial(_e2e, official=("ltx-video 0.1.2",)),
            "offload": partial(_e2e, official=("ours, all resident",))}.get(suite)  # fmt: skip
    if draw is None:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("ltx bench: no plots without matplotlib (pip install matplotlib)", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(10, 5.5))
    draw(ax, [r for r in result["rows"] if "error" not in r])
    ax.set_title(f"{suite}: {result.get('device', '')}, torch {result.get('torch', '')}, "
                 f"triton {result.get('triton', '')}, {result.get('date', '')}", fontsize=10)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _guess(rows: list[dict]) -> str | None:
    """The suite of results saved before files named it."""
    if any("time_ratio_vs_ltx_core" in r or "peak_gib_above_weights" in r for r in rows):
        return "e2e-compiled" if any(r.get("peer") in OFFICIAL[:1] for r in rows) else "e2e"
    if any("TFLOP/s" in r and "attention" not in r.get("case", "") for r in rows) and any(
        r.get("peer", "").startswith("sdpa") for r in rows
    ):
        return "attention"
    return None


def _peers(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["peer"] for r in rows))


def _sweep(ax, rows: list[dict]) -> None:
    for peer in _peers(rows):
        mine = sorted((r["tokens"], r["TFLOP/s"]) for r in rows if r["peer"] == peer)
        ax.plot([t for t, _ in mine], [v for _, v in mine], marker="o", label=peer)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tokens (self-attention, 32 heads of 128)")
    ax.set_ylabel("TFLOP/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _bars_per_case(ax, rows: list[dict]) -> None:
    cases, peers = list(dict.fromkeys(r["case"] for r in rows)), _peers(rows)
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        values = {r["case"]: r["TFLOP/s"] for r in rows if r["peer"] == peer}
        xs = [c + i * width for c, case in enumerate(cases) if case in values]
        ax.bar(xs, [values[case] for case in cases if case in values], width, label=peer)
    ax.set_xticks([c + 0.4 - width / 2 for c in range(len(cases))], cases, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("TFLOP/s")
    ax.legend(fontsize=7)


def _e2e(ax, rows: list[dict], official: tuple[str, ...] = OFFICIAL) -> None:
    sizes, peers = list(dict.fromkeys(r["case"] for r in rows)), _peers(rows)
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        for s, size in enumerate(sizes):
            row = next((r for r in rows if r["case"] == size and r["peer"] == peer), None)
            if row is None:
                continue
            best = next((r for name in official for r in rows if r["case"] == size and r["peer"] == name), row)
            ratio = row["seconds"] / best["seconds"]
            bar = ax.bar(s + i * width, ratio, width, color=f"C{i}", label=peer if s == 0 else None)
            ax.bar_label(bar, [f"{ratio:.2f}x\n{row['seconds'] * 1e3:.0f} ms"], fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([s + 0.4 - width / 2 for s in range(len(sizes))], sizes)
    ax.set_ylabel(f"time / {' (or '.join(official)}{')' * (len(official) - 1)}")
    ax.legend(fontsize=7, loc="lower right")
