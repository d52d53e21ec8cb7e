"""Full-size audio path: ours beside ltx-core's, the same file, in one run.

For each checkpoint (random weights in the official layout, from scripts/make_random_checkpoint.py,
e.g. ltx-2.audio_vae+ltx-2.vocoder and ltx-2.audio_vae+ltx-2.3.vocoder): decode a latent of a clip
(126 tokens = 121 frames at 24 fps) to mel and through the vocoder to a waveform, and encode a
waveform of the same length (mel front-end included; ltx-core's uses torchaudio). Median wall time,
peak GPU memory above the weights, and how far our output is from ltx-core's.

    python bench/audio_decode.py A20.safetensors A23.safetensors [--tokens 126 --batch 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.vae_decode import measure  # noqa: E402
from ltx.audio import load_audio_decoder, load_audio_encoder, load_vocoder, waveform_to_mel  # noqa: E402
from ltx.audio.timing import SAMPLE_RATE, decoded_mel_frames  # noqa: E402
from ltx.parity.audio import tone_clip  # noqa: E402
from ltx.parity.oracle import OfficialAudio, official_mel  # noqa: E402


def bench_file(path: Path, tokens: int, batch: int, repeats: int, device: torch.device) -> dict:
    dtype, cuda = torch.bfloat16, device.type == "cuda"
    official = OfficialAudio(path, device, dtype)
    ours = {
        "encoder": load_audio_encoder(path, device=device, dtype=dtype),
        "decoder": load_audio_decoder(path, device=device, dtype=dtype),
        "vocoder": load_vocoder(path, device=device, dtype=dtype),
    }
    gen = torch.Generator(device).manual_seed(0)
    latent = torch.randn(batch, 8, tokens, 16, generator=gen, device=device, dtype=dtype)
    seconds = decoded_mel_frames(tokens) / 100
    clip = tone_clip(seconds, 48000).expand(batch, -1, -1).contiguous().to(device)
    runs = {
        "decode+vocoder": {
            "ltx-core": lambda: official.vocoder(official.decoder(latent)),
            "ours": lambda: ours["vocoder"](ours["decoder"](latent)),
        },
        "mel+encode (48 kHz input)": {
            "ltx-core": lambda: official.encoder(official_mel(clip, 48000).to(dtype)),
            "ours": lambda: ours["encoder"](waveform_to_mel(clip, 48000).to(dtype)),
        },
    }
    if official_mel(clip[..., :4800], 48000) is None:  # torchaudio does not load here (CPU machines)
        del runs["mel+encode (48 kHz input)"]
    report = {}
    with torch.inference_mode():
        for task, sides in runs.items():
            row, outs = {}, {}
            for side, run in sides.items():
                t, peak, out = measure(run, repeats, cuda)
                outs[side] = out.float().cpu()
                row[side] = {"seconds": round(t, 5), "peak_gib_above_weights": round(peak, 4)}
            a, b = outs["ours"], outs["ltx-core"]
            row["ours"]["rel_err_vs_ltx_core"] = float((a - b).norm() / b.norm())
            row["ours"]["time_ratio_vs_ltx_core"] = round(row["ours"]["seconds"] / row["ltx-core"]["seconds"], 3)
            row["output_shape"] = list(a.shape)
            report[task] = row
    report["audio_seconds"] = seconds
    report["vocoder_rate"] = ours["vocoder"].output_sampling_rate
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--tokens", type=int, default=126)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    report = {"device": name, "torch": torch.__version__, "dtype": "bfloat16", "tokens": args.tokens,
              "batch": args.batch, "mel_rate": SAMPLE_RATE, "files": {}}  # fmt: skip
    for path in args.checkpoints:
        report["files"][path.name] = bench_file(path, args.tokens, args.batch, args.repeats, device)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
