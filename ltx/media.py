"""Images, videos and audio files in and out (PIL, PyAV), prepared as the official pipelines prepare them.

Conditioning images go through an H.264 round trip at CRF 33 (what the model saw in training) before they
are resized to cover the target size (bilinear) and centre-cropped. Output is an MP4 with H.264 video
(yuv420p) and AAC stereo audio.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_CRF = 33


def _av():
    try:
        import av
    except ImportError:
        raise ImportError("reading and writing video needs PyAV: pip install av") from None
    return av


def _exists(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such {what} file")
    return p


def load_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB (alpha dropped, palette and grey expanded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(_exists(path, "image")) as image:
            return np.array(image.convert("RGB"))
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image PIL can read") from None


def h264_round_trip(image: np.ndarray, crf: float = DEFAULT_CRF) -> np.ndarray:
    """The image after one H.264 intra frame at `crf` (odd sizes lose their last row/column); crf 0: unchanged."""
    if crf == 0:
        return image
    av = _av()
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1, options={"crf": str(crf), "preset": "veryfast"})
        stream.height, stream.width = height, width
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="rgb24")
        container.mux(stream.encode(frame.reformat(format="yuv420p")))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def cover_and_crop(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(H, W, C) or (F, H, W, C) float -> (1, C, F, height, width): scaled (bilinear) to cover the target,
    then centre-cropped."""
    if frames.ndim == 3:
        frames = frames.unsqueeze(0)
    if frames.ndim != 4:
        raise ValueError(f"expected (H, W, C) or (F, H, W, C) frames, got shape {tuple(frames.shape)}")
    x = frames.permute(0, 3, 1, 2)
    scale = max(height / x.shape[2], width / x.shape[3])
    new_h, new_w = math.ceil(x.shape[2] * scale), math.ceil(x.shape[3] * scale)
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return x[:, :, top : top + height, left : left + width].permute(1, 0, 2, 3).unsqueeze(0)


def image_to_pixels(
    image: str | os.PathLike | np.ndarray,
    height: int,
    width: int,
    *,
    crf: float = DEFAULT_CRF,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A conditioning image as (1, 3, 1, height, width) in [-1, 1]."""
    array = load_image(image) if not isinstance(image, np.ndarray) else image
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"an image must be (H, W, 3) uint8, got {array.shape} {array.dtype}")
    frame = torch.tensor(h264_round_trip(array, crf), dtype=torch.float32, device=device)
    return (cover_and_crop(frame, height, width) / 127.5 - 1.0).to(device=device, dtype=dtype)


def video_info(path: str | os.PathLike) -> tuple[float, int, int, int]:
    """(fps, frames, width, height) of a video file's first video stream."""
    av = _av()
    with av.open(str(_exists(path, "video"))) as container:
        streams = [s for s in container.streams if s.type == "video"]
        if not streams:
            raise ValueError(f"{path}: has no video stream")
        s = streams[0]
        frames = s.frames or sum(1 for _ in container.decode(s))
        return float(s.average_rate), frames, s.codec_context.width, s.codec_context.height


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> torch.Tensor:
    """(F, H, W, 3) uint8 RGB frames (at most `max_frames`)."""
    av = _av()
    frames = []
    with av.open(str(_exists(path, "video"))) as container:
        for frame in container.decode(video=0):
            frames.append(torch.from_numpy(frame.to_rgb().to_ndarray()))
            if max_frames is not None and len(frames) == max_frames:
                break
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return torch.stack(frames)


def video_to_pixels(
    path: str | os.PathLike, height: int, width: int, frames: int, *, dtype=torch.float32, device="cpu"
) -> torch.Tensor:
    """A conditioning video as (1, 3, F, height, width) in [-1, 1], frame by frame as the official loader."""
    video = read_video(path, frames)
    out = [cover_and_crop(f.to(device, torch.float32), height, width) / 127.5 - 1.0 for f in video]
    return torch.cat(out, dim=2).to(dtype)


def read_audio(
    path: str | os.PathLike, start: float = 0.0, duration: float | None = None
) -> tuple[torch.Tensor, int] | None:
    """(waveform (channels, samples) float32 in [-1, 1], sample rate) of a file's first audio stream from
    `start` seconds, at most `duration` seconds; None if the file has no audio."""
    av = _av()
    with av.open(str(_exists(path, "audio or video"))) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            return None
        stream = streams[0]
        rate = stream.rate
        container.seek(int(start / stream.time_base), stream=stream)
        end = start + duration if duration else float("inf")
        chunks, first = [], None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base)
            if t + frame.samples / frame.sample_rate < start:
                continue
            if t > end:
                break
            first = t if first is None else first
            chunks.append(_frame_to_float(frame))
    if not chunks:
        return None
    audio = np.concatenate(chunks, axis=-1)
    skip = round((start - first) * rate)
    audio = audio[..., max(skip, 0) :]
    if duration is not None:
        audio = audio[..., : round(duration * rate)]
    return torch.from_numpy(np.ascontiguousarray(audio)), rate


def _frame_to_float(frame) -> np.ndarray:
    scale = {"u8": 128.0, "u8p": 128.0, "s16": 32768.0, "s16p": 32768.0, "s32": 2.0**31, "s32p": 2.0**31}
    arr = frame.to_ndarray().astype(np.float32) / scale.get(frame.format.name, 1.0)
    return arr if frame.format.is_planar else arr.reshape(-1, len(frame.layout.channels)).T


def write_mp4(
    path: str | os.PathLike,
    video: torch.Tensor | Iterable[torch.Tensor],
    fps: float,
    audio: torch.Tensor | None = None,
    sample_rate: int | None = None,
) -> Path:
    """Write uint8 frames (F, H, W, 3) (or an iterable of such chunks) as H.264, with stereo `audio`
    (2, samples) float in [-1, 1] as AAC."""
    av = _av()
    chunks = iter([video] if isinstance(video, torch.Tensor) else video)
    first = next(chunks)
    if first.ndim != 4 or first.shape[-1] != 3 or first.dtype != torch.uint8:
        raise ValueError(f"video frames must be uint8 (F, H, W, 3), got {tuple(first.shape)} {first.dtype}")
    if audio is not None and (audio.ndim != 2 or audio.shape[0] != 2 or not sample_rate):
        raise ValueError(f"audio must be stereo (2, samples) with a sample rate, got {tuple(audio.shape)}")
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width, stream.pix_fmt = first.shape[1], first.shape[2], "yuv420p"
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream("aac", rate=sample_rate)
            audio_stream.codec_context.layout = "stereo"
            audio_stream.codec_context.time_base = Fraction(1, sample_rate)
        for chunk in (first, *chunks):
            for frame in chunk.cpu().numpy():
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
        if audio_stream is not None:
            _write_audio(container, audio_stream, audio, sample_rate)
    return path


def _write_audio(container, stream, audio: torch.Tensor, rate: int) -> None:
    av = _av()
    samples = (audio.detach().float().clamp(-1, 1).T * 32767.0).to(torch.int16).contiguous()
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).cpu().numpy(), format="s16", layout="stereo")
    frame.sample_rate = rate
    cc = stream.codec_context
    resampler = av.audio.resampler.AudioResampler(format=cc.format or "fltp", layout="stereo", rate=cc.sample_rate)
    pts = 0
    for out in resampler.resample(frame):
        out.pts, pts = pts, pts + out.samples
        container.mux(stream.encode(out))
    container.mux(stream.encode())
