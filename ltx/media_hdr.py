"""HDR media: OpenEXR frames in and out (OpenImageIO), HDR conditioning inputs prepared for the video VAE,
and an 8-bit sRGB preview of linear frames.

EXR frames are scene-linear float RGB (values above 1 are highlights, kept as they are). Conditioning is
resized to fit inside the target and reflect-padded (never stretched or cropped): an EXR (or a folder of
them, in name order) is compressed into the ACEScct working space from its declared colour space; an
ordinary (SDR) video for the HDR IC-LoRA is scaled to [0, 1] as it is. Both end in the VAE's [-1, 1].
"""

from __future__ import annotations

import enum
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ltx.hdr import Primaries, Transfer, to_vae_range, to_working_space
from ltx.media import frames_dim_second, official_layout_nchw


class ColorSpace(enum.Enum):
    """What the values of an EXR input are: scene-linear sRGB/Rec.709, scene-linear ACEScg, or ACEScct codes."""

    SRGB_LINEAR = "srgb_linear"
    ACESCG = "acescg"
    ACESCCT = "acescct"

    @property
    def primaries(self) -> Primaries:
        return Primaries.REC709 if self is ColorSpace.SRGB_LINEAR else Primaries.ACESCG

    @property
    def exr_tags(self) -> tuple[Primaries, str]:
        """(primaries, `colorSpace` tag) written with frames in this colour space."""
        return self.primaries, {"srgb_linear": "sRGB", "acescg": "ACEScg", "acescct": "ACEScct"}[self.value]


def _oiio():
    try:
        import OpenImageIO
    except ImportError:
        raise ImportError("EXR input and output need OpenImageIO: pip install openimageio") from None
    return OpenImageIO


def read_exr(path: str | os.PathLike) -> torch.Tensor:
    """One EXR frame as (H, W, 3) float32 RGB, values unchanged; alpha and extra channels dropped, a grey
    (one-channel) image repeated to RGB."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such EXR file")
    oiio = _oiio()
    buf = oiio.ImageBuf(str(p))
    pixels = buf.get_pixels(oiio.FLOAT)
    if pixels is None or buf.has_error:
        raise ValueError(f"{p}: cannot be read as an image ({buf.geterror()})")
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim == 4:  # a deep or volume image: not a frame
        raise ValueError(f"{p}: holds a {arr.shape} volume, not one (H, W, C) frame")
    arr = np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr[..., :3]
    if arr.shape[-1] != 3:
        raise ValueError(f"{p}: has {arr.shape[-1]} channels; an RGB (or grey) EXR is needed")
    return torch.from_numpy(np.ascontiguousarray(arr))


def write_exr(
    path: str | os.PathLike,
    frame: torch.Tensor,
    *,
    half: bool = True,
    primaries: Primaries = Primaries.REC709,
    color_space: str = "sRGB",
) -> None:
    """Write one (H, W, 3) (or (3, H, W)) float frame: half floats (or float32 with half=False), ZIP
    compressed, tagged with `primaries`' chromaticities and `color_space` as its `colorSpace`."""
    if frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[-1] != 3:
        frame = frame.permute(1, 2, 0)
    if frame.ndim != 3 or frame.shape[-1] != 3 or not frame.is_floating_point():
        raise ValueError(f"an EXR frame must be float (H, W, 3) or (3, H, W), got {tuple(frame.shape)} {frame.dtype}")
    oiio = _oiio()
    array = np.ascontiguousarray(frame.detach().cpu().float().numpy())
    h, w = array.shape[:2]
    spec = oiio.ImageSpec(w, h, 3, oiio.HALF if half or frame.dtype == torch.float16 else oiio.FLOAT)
    spec.channelnames = ("R", "G", "B")
    spec.attribute("compression", "zip")
    spec.attribute("chromaticities", "float[8]", primaries.exr_chromaticities)
    spec.attribute("colorSpace", color_space)
    out = oiio.ImageOutput.create(str(path))
    if out is None:
        raise RuntimeError(f"{path}: OpenImageIO has no EXR writer ({oiio.geterror()})")
    try:
        if not out.open(str(path), spec) or not out.write_image(array):
            raise RuntimeError(f"{path}: writing the EXR failed ({out.geterror()})")
    finally:
        out.close()


def write_exr_frames(
    folder: str | os.PathLike, video: torch.Tensor, *, half: bool = True, primaries: Primaries = Primaries.REC709,
    color_space: str = "sRGB",
) -> list[Path]:  # fmt: skip
    """(F, H, W, 3) float frames -> folder/frame_00000.exr, ... (the folder is created); the paths written."""
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected (F, H, W, 3) frames, got shape {tuple(video.shape)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame_{i:05d}.exr" for i in range(video.shape[0])]
    for path, frame in zip(paths, video, strict=True):
        write_exr(path, frame, half=half, primaries=primaries, color_space=color_space)
    return paths


def exr_frames(path: str | os.PathLike) -> list[Path]:
    """A .exr file, or the *.exr files of a folder in name order."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".exr":
        return [p]
    if p.is_dir():
        found = sorted(p.glob("*.exr"))
        if not found:
            raise ValueError(f"{p}: the folder holds no .exr frames")
        return found
    raise FileNotFoundError(f"{p}: neither an .exr file nor a folder of them")


def fit_and_reflect_pad(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(H, W, C) or (F, H, W, C) float -> (1, C, F, height, width): scaled down (bilinear, aspect kept) to fit
    inside the target unless it already fits, then padded at the bottom and right by reflection (by
    repeating the edge when the pad is as large as the image)."""
    if frames.ndim not in (3, 4):
        raise ValueError(f"expected (H, W, C) or (F, H, W, C) frames, got shape {tuple(frames.shape)}")
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    x = official_layout_nchw(frames)
    h, w = x.shape[2], x.shape[3]
    if height < h or width < w:
        scale = min(height / h, width / w)
        h, w = round(h * scale), round(w * scale)
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    bottom, right = height - h, width - w
    if bottom > 0 or right > 0:
        mode = "reflect" if bottom < h and right < w else "replicate"
        x = F.pad(x, (0, right, 0, bottom), mode=mode)
    return frames_dim_second(x)


def aligned_size(height: int, width: int, multiple: int = 64) -> tuple[int, int]:
    """The generation size for an output of height x width that is padded (not cropped) to fit: each side
    rounded up to a multiple of `multiple`; the decoded frames are cropped back to height x width."""
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {height}x{width}")
    return math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple


def exr_to_pixels(
    path: str | os.PathLike,
    height: int,
    width: int,
    color_space: ColorSpace,
    *,
    frames: int | None = None,
    start: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """EXR conditioning (a file or a folder of frames, from frame `start`, at most `frames`) as
    (1, 3, F, height, width) in [-1, 1]: linear input is compressed to ACEScct from its primaries; ACEScct
    input is clamped to [0, 1] as it is."""
    paths = exr_frames(path)[start:]
    if frames is not None:
        paths = paths[:frames]
    if not paths:
        raise ValueError(f"{path}: no EXR frames left from frame {start}")
    out = []
    for p in paths:
        frame = fit_and_reflect_pad(read_exr(p).to(device), height, width)
        if color_space is ColorSpace.ACESCCT:
            if not torch.isfinite(frame).all():
                raise ValueError(f"{p}: holds NaN or Inf values")
            code = frame.clamp(0.0, 1.0)
        else:
            code = to_working_space(frame, Transfer.ACESCCT, color_space.primaries)
        out.append(to_vae_range(code).to(dtype))
    return torch.cat(out, dim=2)


def sdr_video_to_pixels(
    frames: torch.Tensor, height: int, width: int, *, dtype: torch.dtype = torch.float32, device="cpu"
) -> torch.Tensor:
    """An SDR reference video (F, H, W, 3) uint8 for the HDR IC-LoRA -> (1, 3, F, height, width) in [-1, 1],
    fitted and reflect-padded frame by frame."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
        raise ValueError(f"expected (F, H, W, 3) uint8 frames, got {tuple(frames.shape)} {frames.dtype}")
    out = []
    for f in frames.split(1):  # (1, H, W, 3) each, laid out as the official decoder yields them
        x = fit_and_reflect_pad(f.to(device=device, dtype=torch.float32), height, width)
        out.append(to_vae_range((x / 255.0).clamp(0.0, 1.0)).to(dtype))
    return torch.cat(out, dim=2)


def linear_to_srgb8(linear: torch.Tensor) -> torch.Tensor:
    """Scene-linear frames -> uint8 sRGB at exposure 0 (clamped to [0, 1], sRGB curve, rounded): a preview."""
    if not linear.is_floating_point():
        raise ValueError(f"expected float linear frames, got {linear.dtype}")
    x = linear.float().nan_to_num(0.0).clamp(0.0, 1.0)
    srgb = torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.pow(1.0 / 2.4) - 0.055)
    return (srgb * 255.0 + 0.5).to(torch.uint8)
