"""ltx-core 1.0.0's eager forward as a peer of `ltx bench e2e-compiled`, in a process of its own: two versions of
one package cannot share a process (`LTX_CORE_1_0_0=DIR ltx bench e2e-compiled`, DIR from
`pip install --no-deps --target DIR ltx-core==1.0.0`).

The child puts DIR first on its path, checks that the ltx-core it imports is 1.0.0, builds our transformer with the
suite's random weights (`ltx.bench.e2e.build`: seed 0 on the same device, so the very tensors the parent holds),
loads them into 1.0.0's LTXModel, times its forward on the suite's inputs and saves the video velocities for the
parent to compare with the other runtimes'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SITE_ENV = "LTX_CORE_1_0_0"
NAME = "ltx-core 1.0.0 eager"


def run(site: str | os.PathLike, sizes: dict, repeats: int, device: str = "cuda", config: str = "19B"):
    """([row per size], {size: video velocity}) from a child process running ltx-core 1.0.0 in `site`."""
    site = Path(site)
    if not (site / "ltx_core").is_dir():
        raise FileNotFoundError(f"{SITE_ENV}={site}: no ltx_core package there (pip install --no-deps --target "
                                f"{site} ltx-core==1.0.0)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "velocities.pt"
        args = [sys.executable, "-m", "ltx.bench.older", "--site", str(site), "--sizes", json.dumps(sizes),
                "--repeats", str(repeats), "--device", device, "--config", config, "--out", str(out)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # (the parent's path may hold 1.2.0)
        env["PYTHONPATH"] = os.pathsep.join([str(site), *_own_paths()])
        done = subprocess.run(args, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"the ltx-core 1.0.0 process failed:\n{done.stderr[-3000:]}")
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return rows, torch.load(out)


def _own_paths() -> list[str]:
    """The folders our packages (ltx, ltx_kernels) and their dependencies import from, without ltx-core's."""
    import ltx_kernels

    import ltx

    own = [str(Path(m.__file__).parent.parent) for m in (ltx, ltx_kernels)]  # (through links, as imported)
    return own + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in own]


def _child(site: str, sizes: dict, repeats: int, device: str, config: str, out: str) -> None:
    from importlib.metadata import version

    sys.path.insert(0, site)
    import ltx_core

    found = version("ltx-core")
    if found != "1.0.0" or not ltx_core.__file__.startswith(str(Path(site).resolve())):
        raise SystemExit(f"expected ltx-core 1.0.0 from {site}, imported {found} from {ltx_core.__file__}")
    from ltx.bench.e2e import build, inputs, timed
    from ltx.config import LTX2_19B
    from ltx.parity.fixtures import TINY
    from ltx.parity.oracle import modality

    cfg = LTX2_19B if config == "19B" else TINY[config].transformer
    ours, official = build(cfg, torch.device(device))
    del ours
    velocities = {}
    for size, shape in sizes.items():
        video, audio = inputs(cfg, *shape, torch.device(device))
        mv, ma = modality(video), modality(audio)
        with torch.inference_mode():
            seconds, peak, v = timed(lambda mv=mv, ma=ma: official(video=mv, audio=ma, perturbations=None), repeats)
        velocities[size] = v[0].cpu()
        print(json.dumps({"case": size, "peer": NAME, "seconds": seconds, "peak_gib_above_weights": peak,
                          "ltx_core": found}), flush=True)  # fmt: skip
    torch.save(velocities, out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--site", required=True)
    p.add_argument("--sizes", required=True, help="JSON: {name: [frames, height, width]}")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--config", default="19B", help="19B, or a tiny spec's name (the suite's test)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    _child(a.site, json.loads(a.sizes), a.repeats, a.device, a.config, a.out)


if __name__ == "__main__":
    main()
