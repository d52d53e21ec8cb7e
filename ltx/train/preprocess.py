"""Videos and captions -> ltx-trainer 1.2.0's preprocessed layout, with our VAEs and text encoder (`ltx preprocess`).

The dataset file (CSV, JSON list or JSONL) has a caption column and a media-path column (paths relative to the
file). Each clip: its first `frames` frames, scaled (bicubic) so it covers `height` x `width` and centre-cropped,
in [-1, 1], encoded to the posterior mean -> `latents/<media path>.pt` {"latents": (128, F', H', W'), "num_frames",
"height", "width", "fps"}; its caption through Gemma (left-padded) and the checkpoint's feature extractor, before
the connectors, which training runs -> `conditions/<media path>.pt` {"video_prompt_embeds", "prompt_attention_mask",
"audio_prompt_embeds"}; with audio, the clip's soundtrack over the same frames -> `audio_latents/<media path>.pt`
{"latents": (8, T', 16), "num_time_steps", "frequency_bins", "duration"}. What ltx-trainer writes, so either trains
on the other's files. Existing outputs are kept unless `overwrite`.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F


def read_dataset(path: str | os.PathLike, caption: str = "caption", media: str = "media_path") -> list[dict]:
    """[{"caption", "media"}] from a CSV / JSON / JSONL file; a missing column or file is named."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such dataset file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    elif suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise ValueError(f"{path}: a dataset file is .csv, .json or .jsonl")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty list of entries")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or caption not in row or media not in row:
            raise ValueError(f"{path}: entry {i} lacks the {caption!r} or {media!r} field")
        file = path.parent / str(row[media]).strip()
        if not file.is_file():
            raise FileNotFoundError(f"{path}: entry {i}: {file} does not exist")
        out.append({"caption": str(row[caption]), "media": file, "relative": Path(str(row[media]).strip())})
    return out


def clip_pixels(path: Path, frames: int, height: int, width: int) -> tuple[torch.Tensor, float]:
    """(1, 3, frames, height, width) in [-1, 1] and the video's fps; too short a video is an error."""
    from ltx.media import read_video, video_info

    fps = video_info(path)[0]
    video = read_video(path, frames)
    if video.shape[0] < frames:
        raise ValueError(f"{path}: has {video.shape[0]} frames, fewer than the {frames} asked for")
    x = video.permute(0, 3, 1, 2).float()  # (F, 3, H, W)
    scale = max(height / x.shape[2], width / x.shape[3])
    size = (max(height, round(x.shape[2] * scale)), max(width, round(x.shape[3] * scale)))
    x = F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 255)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    x = x[:, :, top : top + height, left : left + width]
    return (x / 127.5 - 1.0).permute(1, 0, 2, 3)[None], fps


def preprocess(dataset: str | os.PathLike, output: str | os.PathLike, *, checkpoint: str | os.PathLike,
               gemma: str | os.PathLike, frames: int = 49, height: int = 512, width: int = 768,
               with_audio: bool = False, device: str | None = None, dtype: torch.dtype = torch.bfloat16,
               overwrite: bool = False, caption: str = "caption", media: str = "media_path") -> Path:  # fmt: skip
    """Write the preprocessed folder `output` (see the module); returns it."""
    from ltx.audio import load_audio_encoder
    from ltx.audio.codec import encode_audio
    from ltx.media import read_audio
    from ltx.text.encoder import TextEncoder
    from ltx.vae import load_video_encoder

    if (frames - 1) % 8 or height % 32 or width % 32 or min(frames, height, width) < 1:
        raise ValueError(f"frames must be 8k + 1 and height / width multiples of 32, got {frames}x{height}x{width}")
    entries = read_dataset(dataset, caption, media)
    out = Path(output)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    todo = [e for e in entries if overwrite or not (out / "latents" / e["relative"].with_suffix(".pt")).is_file()]
    if not todo:
        return out
    encoder = load_video_encoder(checkpoint, device=device, dtype=dtype)
    audio_encoder = load_audio_encoder(checkpoint, device=device, dtype=torch.float32) if with_audio else None
    for e in todo:
        rel = e["relative"].with_suffix(".pt")
        pixels, fps = clip_pixels(e["media"], frames, height, width)
        with torch.inference_mode():
            latent = encoder(pixels.to(device, dtype))[0].float().cpu().contiguous()
        _save(out / "latents" / rel, {"latents": latent, "num_frames": latent.shape[1], "height": latent.shape[2],
                                       "width": latent.shape[3], "fps": float(fps)})  # fmt: skip
        if audio_encoder is not None:
            sound = read_audio(e["media"], 0.0, frames / fps)
            if sound is None:
                raise ValueError(f"{e['media']}: has no audio track (with_audio asks for one per clip)")
            a = encode_audio(audio_encoder, sound[0], sound[1])[0].float().cpu().contiguous()
            _save(out / "audio_latents" / rel, {"latents": a, "num_time_steps": a.shape[1],
                                                 "frequency_bins": a.shape[2], "duration": frames / fps})  # fmt: skip
    del encoder, audio_encoder
    text = TextEncoder(gemma, checkpoint, device=device, dtype=dtype)
    for e in todo:
        with torch.inference_mode():
            hidden, mask = text.gemma.encode([e["caption"]])
            video, audio = text.processor.text_embedding_projection(hidden, mask)
        cond = {"video_prompt_embeds": video[0].float().cpu().contiguous(),
                "prompt_attention_mask": mask[0].bool().cpu()}  # fmt: skip
        if audio is not None:
            cond["audio_prompt_embeds"] = audio[0].float().cpu().contiguous()
        _save(out / "conditions" / e["relative"].with_suffix(".pt"), cond)
    return out


def _save(path: Path, value: dict) -> None:
    """Written whole or not at all (a temporary file renamed), so an interrupted run can go on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".pt.tmp{os.getpid()}")
    torch.save(value, tmp)
    tmp.replace(path)
