"""Which arithmetic the bandwidth-extension vocoder (LTX-2.3 / 2.5) uses in a bf16 run, ours against the installed
official ltx-core, bit for bit.

ltx-core 1.0.0 computes it in the weights' dtype; since 1.1 it runs under a float32 autocast (the bf16 weights are
upcast per operation; the output is rounded back to the input's dtype). `load_vocoder` follows the newest by default
and the old one with `bwe_in_float32=False`. On the CPU ltx-core's float32 autocast is disabled, so the oracle's
vocoder is upcast after it is built (ltx/parity/oracle.py); on CUDA it runs its real autocast.

    python scripts/check_vocoder_precision.py                       # ltx-core 1.2.0 (installed): default mode
    PYTHONPATH=/tmp/oracle-1.0.0 python scripts/check_vocoder_precision.py   # an unpacked 1.0.0 wheel: the old mode
    python scripts/check_vocoder_precision.py --device cuda         # on a GPU: against the real CUDA autocast

Exits non-zero unless the mode that matches the installed oracle is bitwise equal to it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from ltx.audio import load_vocoder
from ltx.parity.file_fixtures import SPLIT_FILES
from ltx.parity.fixtures import TINY, write_tiny_checkpoint
from ltx.parity.oracle import OfficialAudio, at_least, oracle_version


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    new = at_least("1.1.0")
    print(f"ltx-core {oracle_version()}: expects {'float32 (default)' if new else 'bf16 (bwe_in_float32=False)'}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for spec in (TINY["ltx-2.3-tiny"], SPLIT_FILES["ltx-2.5-audio-vae-tiny"]):
            path = write_tiny_checkpoint(spec, Path(tmp) / f"{spec.name}.safetensors")
            gen = torch.Generator().manual_seed(1)
            mel = (torch.randn(2, 2, 9, 64, generator=gen) * 2 - 4).to(device, torch.bfloat16)
            with torch.no_grad():
                ref = OfficialAudio(path, device, torch.bfloat16).vocoder(mel)
                exact = OfficialAudio(path, device, torch.float32).vocoder(mel.float())
                got = {
                    mode: load_vocoder(path, device=device, dtype=torch.bfloat16, bwe_in_float32=mode)(mel)
                    for mode in (True, False)
                }
            for mode, out in got.items():
                rel = ((out.float() - exact).norm() / exact.norm()).item()
                same = torch.equal(out, ref)
                print(f"{spec.name}: bwe_in_float32={mode}: equal to the oracle {same}, rel error vs float32 {rel:.3e}")
            ok &= torch.equal(got[new], ref)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
