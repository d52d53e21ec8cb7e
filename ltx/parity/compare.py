"""Tensor-by-tensor comparison and its report (the rules are in the README, "Parity").

Per tensor: max |ours - ref| and the relative error ||ours - ref|| / ||ref||, in float64. NaN or Inf
anywhere fails. Two rules:
- exact (float32): rel <= 1e-5.
- low precision (bf16 ...): ours and the official run in the same low precision are both compared
  with the official float32 output; ours passes when rel_ours <= 2 * rel_official + floor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

FP32_REL_TOL = 1e-5
LOWP_FACTOR = 2.0
LOWP_FLOOR = 1e-3  # relative; covers tensors where the official happens to round almost exactly


@dataclass
class Row:
    group: str  # which checkpoint / run this row belongs to
    name: str
    shape: tuple[int, ...]
    max_abs: float
    rel: float
    tol: float
    passed: bool
    ref_rel: float | None = None  # low precision: the official's own error against its float32 output


def _errors(ours: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, bool]:
    a, b = ours.detach().double().cpu(), ref.detach().double().cpu()
    finite = bool(torch.isfinite(a).all() and torch.isfinite(b).all())
    if not finite:
        return math.nan, math.nan, False
    diff = a - b
    max_abs = diff.abs().max().item() if diff.numel() else 0.0
    ref_norm = b.norm().item()
    rel = diff.norm().item() / ref_norm if ref_norm > 0 else (0.0 if max_abs == 0 else math.inf)
    return max_abs, rel, True


def _shape_row(group: str, name: str, ours: torch.Tensor, ref: torch.Tensor) -> Row | None:
    if ours.shape != ref.shape:
        return Row(
            group,
            f"{name} (shape {tuple(ours.shape)} vs ref {tuple(ref.shape)})",
            tuple(ref.shape),
            math.nan,
            math.nan,
            0.0,
            False,
        )
    return None


def compare_exact(
    group: str, ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], tol: float = FP32_REL_TOL
) -> list[Row]:
    rows = []
    for name in _names(ours, ref):
        if name not in ours or name not in ref:
            rows.append(
                Row(
                    group,
                    f"{name} (missing on {'our' if name not in ours else 'the official'} side)",
                    (),
                    math.nan,
                    math.nan,
                    tol,
                    False,
                )
            )
            continue
        bad = _shape_row(group, name, ours[name], ref[name])
        if bad:
            rows.append(bad)
            continue
        max_abs, rel, finite = _errors(ours[name], ref[name])
        rows.append(Row(group, name, tuple(ref[name].shape), max_abs, rel, tol, finite and rel <= tol))
    return rows


def compare_lowp(
    group: str,
    ours: dict[str, torch.Tensor],
    ref_lowp: dict[str, torch.Tensor],
    ref_fp32: dict[str, torch.Tensor],
    factor: float = LOWP_FACTOR,
    floor: float = LOWP_FLOOR,
) -> list[Row]:
    rows = []
    for name in _names(ours, ref_fp32):
        if name not in ours or name not in ref_fp32 or name not in ref_lowp:
            rows.append(Row(group, f"{name} (missing on one side)", (), math.nan, math.nan, 0.0, False))
            continue
        bad = _shape_row(group, name, ours[name], ref_fp32[name])
        if bad:
            rows.append(bad)
            continue
        max_abs, rel, finite = _errors(ours[name], ref_fp32[name])
        _, ref_rel, ref_finite = _errors(ref_lowp[name], ref_fp32[name])
        tol = factor * ref_rel + floor if ref_finite else 0.0
        rows.append(Row(group, name, tuple(ref_fp32[name].shape), max_abs, rel, tol, finite and rel <= tol, ref_rel))
    return rows


def _names(a: dict, b: dict) -> list[str]:
    return list(dict.fromkeys([*b, *a]))


def format_table(rows: Iterable[Row]) -> str:
    rows = list(rows)
    lowp = any(r.ref_rel is not None for r in rows)
    head = f"{'tensor':<44} {'shape':<16} {'max abs err':>11} {'rel err':>9}"
    head += f" {'official':>9}" if lowp else ""
    head += f" {'rel tol':>9}  ok"
    lines = [head, "-" * len(head)]
    group = None
    for r in rows:
        if r.group != group:
            group = r.group
            lines.append(f"[{group}]")
        line = f"  {r.name:<42} {'x'.join(map(str, r.shape)):<16} {r.max_abs:>11.3e} {r.rel:>9.2e}"
        if lowp:
            line += f" {r.ref_rel:>9.2e}" if r.ref_rel is not None else f" {'':>9}"
        line += f" {r.tol:>9.1e}  {'ok' if r.passed else 'FAIL'}"
        lines.append(line)
    failed = [r for r in rows if not r.passed]
    lines.append("")
    summary = f"{len(rows) - len(failed)}/{len(rows)} tensors pass"
    finite = [r for r in rows if not math.isnan(r.rel)]
    worst = max(finite, key=lambda r: r.rel / r.tol if r.tol else (math.inf if r.rel else 0.0), default=None)
    if worst is not None and max(r.rel for r in finite) == 0:
        summary += "; every compared tensor is bitwise equal to the official"
    elif worst is not None:
        summary += (
            f"; closest to its tolerance: {worst.group} {worst.name}, rel {worst.rel:.2e} (tolerance {worst.tol:.1e})"
        )
    lines.append(summary)
    return "\n".join(lines)


def write_json(rows: Iterable[Row], path: str | Path, **context) -> None:
    rows = list(rows)
    report = {
        **context,
        "passed": all(r.passed for r in rows),
        "rows": [
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(r).items()}
            for r in rows
        ],
    }
    Path(path).write_text(json.dumps(report, indent=1))
