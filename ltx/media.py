"""Images, videos and audio files in and out (PIL, PyAV), prepared as the official pipelines prepare them.

Images are read upright (EXIF orientation) and in sRGB (an embedded ICC profile is converted). Conditioning
images go through an H.264 round trip at the CRF the model generation was trained with (33 up to LTX-2.3,
18 from LTX-2.4 on: `image_crf`) before they are resized to cover the target size (bilinear) and
centre-cropped. Output is an MP4 with H.264 video (BT.709 yuv420p, CRF 19) and AAC stereo audio.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_CRF = 33  # LTX-2.0 to 2.3
LTX_2_4_CRF = 18  # LTX-2.4 and newer
_EXIF_ORIENTATION = 0x0112
_ROTATION = {3: 180, 6: 270, 8: 90}  # EXIF orientation -> counter-clockwise degrees that make it upright


def image_crf(model_version: str | None) -> int:
    """The H.264 CRF conditioning images are re-compressed at for a checkpoint's `model_version`
    (its metadata string): 18 from 2.4 on, else 33 (also when the version is absent or unreadable)."""
    from ltx.checkpoint import parse_model_version

    return LTX_2_4_CRF if parse_model_version(model_version) >= (2, 4) else DEFAULT_CRF


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


def _open(av, path: str | os.PathLike, what: str):
    """av.open, its errors (not a media file, damaged) as a ValueError naming the file."""
    p = _exists(path, what)
    try:
        return av.open(str(p))
    except av.error.FFmpegError as e:
        raise ValueError(f"{p}: not a {what} file PyAV can read ({e})") from None


def load_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB: turned upright by its EXIF orientation (rotations only), its ICC profile (if
    any) converted to sRGB, alpha dropped, palette and grey expanded."""
    from PIL import Image, ImageCms, UnidentifiedImageError

    try:
        with Image.open(_exists(path, "image")) as image:
            rotation = _ROTATION.get(image.getexif().get(_EXIF_ORIENTATION))
            if rotation:
                image = image.rotate(rotation, expand=True)
            icc = image.info.get("icc_profile")
            if image.mode in ("RGBA", "LA"):
                image = image.convert(image.mode[:-1])
            if icc:
                try:
                    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
                    return np.array(ImageCms.profileToProfile(image, source, srgb, outputMode="RGB"), dtype=np.uint8)
                except (ImageCms.PyCMSError, OSError, ValueError) as e:
                    warnings.warn(f"{path}: ICC profile not converted to sRGB ({e}); read as RGB", stacklevel=2)
            return np.array(image.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image PIL can read") from None
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError) as e:  # a truncated or damaged file (PIL's own words, with the path)
        raise ValueError(f"{path}: the image cannot be decoded ({e}); is it complete?") from None


def h264_round_trip(image: np.ndarray, crf: float) -> np.ndarray:
    """The image after one H.264 intra frame at `crf` (odd sizes lose their last row/column); crf 0, or an
    image under 2 pixels high or wide: unchanged."""
    if crf == 0 or min(image.shape[0], image.shape[1]) < 2:
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
    if frames.ndim not in (3, 4):
        raise ValueError(f"expected (H, W, C) or (F, H, W, C) frames, got shape {tuple(frames.shape)}")
    x = official_layout_nchw(frames)
    scale = max(height / x.shape[2], width / x.shape[3])
    new_h, new_w = math.ceil(x.shape[2] * scale), math.ceil(x.shape[3] * scale)
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return frames_dim_second(x[:, :, top : top + height, left : left + width])


def official_layout_nchw(frames: torch.Tensor) -> torch.Tensor:
    """(H, W, C) -> (1, C, H, W) or (F, H, W, C) -> (F, C, H, W), views in the memory layout ltx-pipelines'
    resizers make: a single frame's batch stride is its channel count, so the bilinear resize returns it
    contiguous (several frames stay channels-last). Later ops round by layout (an einsum on AVX-512 CPUs,
    cuDNN's convolutions), so the layout is part of matching the official numbers."""
    return frames.permute(2, 0, 1).unsqueeze(0) if frames.ndim == 3 else frames.permute(0, 3, 1, 2)


def frames_dim_second(x: torch.Tensor) -> torch.Tensor:
    """(F, C, H, W) -> (1, C, F, H, W), with the strides ltx-pipelines' rearrange gives the new axis."""
    x = x.permute(1, 0, 2, 3)
    return x.reshape(1, *x.shape)


def image_to_pixels(
    image: str | os.PathLike | np.ndarray,
    height: int,
    width: int,
    *,
    crf: float | None = None,
    model_version: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A conditioning image as (1, 3, 1, height, width) in [-1, 1]. `crf` None: the CRF the model of
    `model_version` (the checkpoint's metadata string) was trained with, `image_crf(model_version)`."""
    array = load_image(image) if not isinstance(image, np.ndarray) else image
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"an image must be (H, W, 3) uint8, got {array.shape} {array.dtype}")
    crf = image_crf(model_version) if crf is None else crf
    frame = torch.tensor(h264_round_trip(array, crf), dtype=torch.float32, device=device)
    return (cover_and_crop(frame, height, width) / 127.5 - 1.0).to(device=device, dtype=dtype)


def video_info(path: str | os.PathLike) -> tuple[float, int, int, int]:
    """(fps, frames, width, height) of a video file's first video stream."""
    av = _av()
    with _open(av, path, "video") as container:
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
    with _open(av, path, "video") as container:
        try:
            for frame in container.decode(video=0):
                frames.append(torch.from_numpy(frame.to_rgb().to_ndarray()))
                if max_frames is not None and len(frames) == max_frames:
                    break
        except (av.error.FFmpegError, IndexError) as e:
            raise ValueError(f"{path}: its video cannot be decoded ({e}); is it complete?") from None
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return torch.stack(frames)


def video_to_pixels(
    path: str | os.PathLike, height: int, width: int, frames: int, *, dtype=torch.float32, device="cpu"
) -> torch.Tensor:
    """A conditioning video as (1, 3, F, height, width) in [-1, 1], frame by frame as the official loader."""
    video = read_video(path, frames)
    # each frame (1, H, W, 3), as the official decoder yields them (a single (H, W, 3) frame is laid out otherwise)
    out = [cover_and_crop(f.to(device, torch.float32), height, width) / 127.5 - 1.0 for f in video.split(1)]
    return torch.cat(out, dim=2).to(dtype)


def read_audio(
    path: str | os.PathLike, start: float = 0.0, duration: float | None = None
) -> tuple[torch.Tensor, int] | None:
    """(waveform (channels, samples) float32 in [-1, 1], sample rate) of a file's first audio stream from
    `start` seconds, at most `duration` seconds; None if the file has no audio."""
    av = _av()
    with _open(av, path, "audio or video") as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            return None
        stream = streams[0]
        rate = stream.rate
        container.seek(int(start / stream.time_base), stream=stream)
        end = start + duration if duration else float("inf")
        if not duration and stream.duration is not None:  # what the official reader stops at
            end = float(stream.duration * stream.time_base)
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


# BT.709 RGB -> Y'CbCr (rows: Y', Cb, Cr).
_BT709 = torch.tensor([[0.2126, 0.7152, 0.0722], [-0.1146, -0.3854, 0.5], [0.5, -0.4542, -0.0458]])
OUTPUT_CRF = 19


def yuv420p_bt709(frames: torch.Tensor) -> torch.Tensor:
    """RGB frames (F, H, W, 3), float in [0, 1] (uint8 is divided by 255 first), as the I420 planes PyAV's
    `yuv420p` takes, (F, 3H/2, W) uint8: BT.709 limited range (Y = 16 + 219 Y', C = 128 + 224 C'), each
    chroma sample the mean of a 2 x 2 block, truncated to integers, computed in the frames' dtype (as the
    official encoder converts them, rather than FFmpeg's BT.601 swscale)."""
    x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames
    yuv = (x @ _BT709.to(device=x.device, dtype=x.dtype).T).movedim(-1, -3)  # (F, 3, H, W)
    luma = yuv[:, 0] * 219 + 16
    chroma = F.avg_pool2d(yuv[:, 1:3].contiguous(), kernel_size=2, stride=2) * 224 + 128  # (F, 2, H/2, W/2)
    planes = torch.cat([luma, chroma.reshape(x.shape[0], x.shape[1] // 2, x.shape[2])], dim=-2)
    return planes.clamp(0, 255).to(torch.uint8)


def write_mp4(
    path: str | os.PathLike,
    video: torch.Tensor | Iterable[torch.Tensor],
    fps: float,
    audio: torch.Tensor | None = None,
    sample_rate: int | None = None,
    *,
    crf: int = OUTPUT_CRF,
) -> Path:
    """Write RGB frames (F, H, W, 3), float in [0, 1] or uint8 (or an iterable of such chunks), as H.264
    (`yuv420p_bt709`, tagged BT.709 limited range, libx264 `crf`, preset veryfast), with stereo `audio`
    (2, samples) float in [-1, 1] as AAC."""
    av = _av()
    chunks = iter([video] if isinstance(video, torch.Tensor) else video)
    first = next(chunks)
    if first.ndim != 4 or first.shape[-1] != 3 or not (first.dtype == torch.uint8 or first.is_floating_point()):
        raise ValueError(
            f"video frames must be (F, H, W, 3), float in [0, 1] or uint8, got {tuple(first.shape)} {first.dtype}"
        )
    if first.shape[1] % 2 or first.shape[2] % 2:
        raise ValueError(f"H.264 (yuv420p) needs an even height and width, got {first.shape[1]}x{first.shape[2]}")
    if audio is not None and (audio.ndim != 2 or audio.shape[0] != 2 or not sample_rate):
        raise ValueError(f"audio must be stereo (2, samples) with a sample rate, got {tuple(audio.shape)}")
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"})
        stream.height, stream.width, stream.pix_fmt = first.shape[1], first.shape[2], "yuv420p"
        cc = stream.codec_context
        cc.thread_count, cc.thread_type = 0, "FRAME"
        cc.colorspace, cc.color_range = 1, 1  # FFmpeg's AVCOL_SPC_BT709, AVCOL_RANGE_MPEG (limited)
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream("aac", rate=sample_rate)
            audio_stream.codec_context.layout = "stereo"
            audio_stream.codec_context.time_base = Fraction(1, sample_rate)
        for chunk in (first, *chunks):
            for frame in yuv420p_bt709(chunk).cpu().numpy():
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="yuv420p")))
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


def _blur3(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) float through a 3 x 3 Gaussian of sigma 1 with reflected edges (ltx-video's conditioning blur)."""
    t = torch.exp(-0.5 * torch.linspace(-1.0, 1.0, 3) ** 2)
    t = t / t.sum()
    kernel = (t[:, None] * t[None, :]).expand(x.shape[0], 1, 3, 3)
    return F.conv2d(F.pad(x[None], [1, 1, 1, 1], mode="reflect"), kernel, groups=x.shape[0])[0]


def ltxv_media(path: str | os.PathLike, height: int, width: int, max_frames: int = 1) -> torch.Tensor:
    """An image or the first `max_frames` frames of a video as LTX-Video 0.9.x's inference prepares conditioning
    media: (1, 3, F, h, w) in [-1, 1], each frame centre-cropped to the target's aspect ratio (not resized: the
    pipeline resizes it, bilinear), blurred (3 x 3, sigma 1), through an H.264 frame at CRF 29 (its 8-bit
    quantisation truncates)."""
    suffix = Path(path).suffix.lower()
    frames = read_video(path, max_frames) if suffix in {".mp4", ".avi", ".mov", ".mkv", ".webm"} else None
    frames = [torch.from_numpy(load_image(path))] if frames is None else list(frames)
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        if w / h > width / height:
            crop_w, crop_h = int(h * (width / height)), h
        else:
            crop_w, crop_h = w, int(w / (width / height))
        if min(crop_w, crop_h) < 2:
            raise ValueError(f"{path}: a {w}x{h} frame is too small to condition on")
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        x = _blur3(frame[top : top + crop_h, left : left + crop_w].permute(2, 0, 1).float() / 255.0)
        even = (x.permute(1, 2, 0)[: crop_h // 2 * 2, : crop_w // 2 * 2] * 255.0).byte().numpy()
        x = torch.tensor(h264_round_trip(even, 29), dtype=torch.float32) / 255.0
        out.append((x.permute(2, 0, 1) * 255.0 / 127.5 - 1.0)[None, :, None])
    return torch.cat(out, dim=2)
