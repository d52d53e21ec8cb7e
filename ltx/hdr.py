"""HDR working spaces: the log curves that squeeze scene-linear light [0, inf) into the [0, 1] signal the video
VAE is trained on, their inverses, and the linear-primaries conversions around them.

- LogC3: ARRI's LogC3 curve at EI 800, defined on Rec.709 primaries. The HDR IC-LoRA generates LogC3 codes;
  decoding them gives scene-linear Rec.709 frames (written as EXR).
- ACEScct: the ACES log working space (AMPAS S-2016-001), defined on ACEScg (AP1) primaries. Scene-linear
  EXR conditioning (sRGB-linear or ACEScg) is compressed with it before the VAE sees it.

Both curves clamp their input at 0 and their output to [0, 1]; decoding clamps the code to [0, 1] first.
All arithmetic is float32. `to_vae_range` / `from_vae_range` map [0, 1] <-> the VAE's [-1, 1].
"""

from __future__ import annotations

import enum

import torch

# LogC3 (EI 800): code = c * log10(a * x + b) + d above the cut, e * x + f below it
_LOGC3_A, _LOGC3_B, _LOGC3_C, _LOGC3_D = 5.555556, 0.052272, 0.247190, 0.385537
_LOGC3_E, _LOGC3_F, _LOGC3_CUT = 5.367655, 0.092809, 0.010591
# ACEScct: code = (log2 x + 9.72) / 17.52 above the break, a * x + b below it
_CCT_A, _CCT_B = 10.5402377416545, 0.0729055341958355
_CCT_X_BREAK, _CCT_Y_BREAK = 0.0078125, 0.155251141552511
_CCT_SCALE, _CCT_OFFSET = 17.52, 9.72

# linear ACEScg (AP1, D60) -> linear Rec.709 / sRGB (D65); the reverse is its float64 inverse
ACESCG_TO_REC709 = torch.tensor(
    [[1.70505, -0.62179, -0.08326], [-0.13026, 1.14080, -0.01055], [-0.02400, -0.12897, 1.15297]], dtype=torch.float32
)
REC709_TO_ACESCG = torch.linalg.inv(ACESCG_TO_REC709.double()).float()


class Primaries(enum.Enum):
    """The RGB basis of linear light."""

    REC709 = "rec709"
    ACESCG = "acescg"

    @property
    def exr_chromaticities(self) -> tuple[float, ...]:
        """The EXR `chromaticities` header: red, green, blue and white (x, y)."""
        if self is Primaries.REC709:
            return (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
        return (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)


def convert_primaries(video: torch.Tensor, source: Primaries, target: Primaries) -> torch.Tensor:
    """Linear light from `source` primaries into `target`. Channels are dim 1 of a (B, 3, F, H, W) video,
    else dim -3 of (..., 3, H, W)."""
    if source is target:
        return video
    channel = 1 if video.ndim == 5 else video.ndim - 3
    if video.ndim < 3 or video.shape[channel] != 3:
        raise ValueError(f"expected (B, 3, F, H, W) or (..., 3, H, W) linear RGB, got shape {tuple(video.shape)}")
    matrix = REC709_TO_ACESCG if source is Primaries.REC709 else ACESCG_TO_REC709
    matrix = matrix.to(device=video.device, dtype=video.dtype)
    if video.ndim == 5:
        return torch.einsum("bcfhw,dc->bdfhw", video, matrix)
    return torch.einsum("...chw,dc->...dhw", video, matrix)


def _logc3_encode(linear: torch.Tensor) -> torch.Tensor:
    x = linear.clamp(min=0.0)
    log = _LOGC3_C * torch.log10(_LOGC3_A * x + _LOGC3_B) + _LOGC3_D
    lin = _LOGC3_E * x + _LOGC3_F
    return torch.where(x >= _LOGC3_CUT, log, lin).clamp(0.0, 1.0)


def _logc3_decode(code: torch.Tensor) -> torch.Tensor:
    y = code.clamp(0.0, 1.0)
    log = (torch.pow(10.0, (y - _LOGC3_D) / _LOGC3_C) - _LOGC3_B) / _LOGC3_A
    lin = (y - _LOGC3_F) / _LOGC3_E
    return torch.where(y >= _LOGC3_E * _LOGC3_CUT + _LOGC3_F, log, lin)


def _acescct_encode(linear: torch.Tensor) -> torch.Tensor:
    x = linear.clamp(min=0.0)
    log = (torch.log2(x.clamp(min=1e-12)) + _CCT_OFFSET) / _CCT_SCALE
    lin = _CCT_A * x + _CCT_B
    return torch.where(x > _CCT_X_BREAK, log, lin).clamp(0.0, 1.0)


def _acescct_decode(code: torch.Tensor) -> torch.Tensor:
    y = code.clamp(0.0, 1.0)
    log = torch.pow(2.0, y * _CCT_SCALE - _CCT_OFFSET)
    lin = (y - _CCT_B) / _CCT_A
    return torch.where(y > _CCT_Y_BREAK, log, lin)


class Transfer(enum.Enum):
    """A log working space: `encode` linear [0, inf) -> [0, 1], `decode` back."""

    LOGC3 = "logc3"
    ACESCCT = "acescct"

    @property
    def label(self) -> str:
        """The name written into an EXR's `colorSpace` tag."""
        return "LogC3" if self is Transfer.LOGC3 else "ACEScct"

    @property
    def primaries(self) -> Primaries:
        """The primaries the curve is defined on (decoding lands there)."""
        return Primaries.REC709 if self is Transfer.LOGC3 else Primaries.ACESCG

    def encode(self, linear: torch.Tensor) -> torch.Tensor:
        return _logc3_encode(linear) if self is Transfer.LOGC3 else _acescct_encode(linear)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return _logc3_decode(code) if self is Transfer.LOGC3 else _acescct_decode(code)


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not x.is_floating_point():
        raise ValueError(f"{what} must be a float tensor, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or Inf values: fix or drop those pixels first")


def to_working_space(linear: torch.Tensor, transfer: Transfer, source: Primaries = Primaries.REC709) -> torch.Tensor:
    """Scene-linear RGB in `source` primaries -> the transfer's [0, 1] codes (float32), via its own primaries."""
    _check_finite(linear, "the linear HDR frames")
    native = convert_primaries(linear.float(), source, transfer.primaries)
    return transfer.encode(native.clamp(min=0.0))


def to_linear(code: torch.Tensor, transfer: Transfer, target: Primaries = Primaries.REC709) -> torch.Tensor:
    """The transfer's [0, 1] codes -> scene-linear RGB (float32) in `target` primaries, negatives clamped to 0."""
    _check_finite(code, "the working-space codes")
    native = transfer.decode(code.float())
    return convert_primaries(native, transfer.primaries, target).clamp(min=0.0)


def decoded_to_linear(frames: torch.Tensor, transfer: Transfer, target: Primaries = Primaries.REC709) -> torch.Tensor:
    """Decoded video frames (F, H, W, 3) in [0, 1] (the transfer's codes) -> scene-linear (F, H, W, 3) float32."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected decoded frames (F, H, W, 3), got shape {tuple(frames.shape)}")
    # channels-last memory, as the decoders yield it: on the CPU, pow of the same values in another memory
    # layout can round 1 ulp differently (measured), so the layout is fixed
    video = frames.float().contiguous().permute(3, 0, 1, 2).unsqueeze(0)
    return to_linear(video, transfer, target)[0].permute(1, 2, 3, 0).contiguous()


def to_vae_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]; anything outside [0, 1] is an error (compress or clamp first)."""
    _check_finite(x, "the VAE input")
    if bool((x < 0).any() or (x > 1).any()):
        raise ValueError(
            f"VAE input must be in [0, 1] before mapping to [-1, 1]; got [{float(x.min())}, {float(x.max())}]"
        )
    return x * 2.0 - 1.0


def from_vae_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def hdr_lora_transfer(metadata: dict[str, str]) -> Transfer | None:
    """The working space an HDR IC-LoRA generates in, from its safetensors metadata: `hdr_transform`
    ("logc3", "acescct", or "true" = LogC3) or a `use_hdr_transform` flag; None for a LoRA without HDR."""
    name = str(metadata.get("hdr_transform", "") or "")
    if not name and not metadata.get("use_hdr_transform"):
        return None
    if not name or name == "true":
        return Transfer.LOGC3
    try:
        return Transfer(name)
    except ValueError:
        raise ValueError(
            f"unknown hdr_transform {name!r} in the LoRA's metadata; expected one of {[t.value for t in Transfer]}"
        ) from None
