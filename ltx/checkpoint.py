"""Official single-file safetensors checkpoints: header, metadata, components, memory-mapped tensors.

We read the safetensors format ourselves (an 8-byte header length, a JSON header, then raw data) so
that every way a file can be wrong gets an error that names the file and says what to do, and so
that tensors are views of one memory map: loading a 38 GB file costs no second copy in RAM.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)

# Component -> key prefixes. An LTX-2 single file holds the first six; LTX-2.5 ships one file per
# component (bare `encoder.*` / `decoder.*` video VAE keys, `duration_head.*`, a Gemma text encoder
# packed with its tokenizer, flat latent-upsampler keys). The text connectors live under the
# transformer's prefix but belong to the text side, so they are listed (and matched) first. LoRA
# factors (`*.lora_A.*` / `*.lora_B.*`) are a component of their own whatever their prefix.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "text_connectors": (
        "model.diffusion_model.video_embeddings_connector.",
        "model.diffusion_model.audio_embeddings_connector.",
        "model.diffusion_model.embeddings_connector.",
    ),
    "transformer": ("model.diffusion_model.",),
    "text_projection": ("text_embedding_projection.",),
    "video_vae": ("vae.", "encoder.", "decoder.", "per_channel_statistics."),
    "audio_vae": ("audio_vae.",),
    "vocoder": ("vocoder.",),
    "duration_head": ("duration_head.",),
    "text_encoder": (
        "model.language_model.",
        "model.layers.",
        "model.embed_tokens.",
        "model.norm.",
        "model.embed_vision.",
        "model.embed_audio.",
        "model.vision_embedder.",
        "model.vision_tower.",
        "model.multi_modal_projector.",
        "language_model.",
        "vision_model.",
        "vision_tower.",
        "multi_modal_projector.",
        "audio_projector.",
        "tokenizer_json",
        "hf_asset__",
    ),  # fmt: skip
    "upsampler": (
        "initial_conv.",
        "initial_norm.",
        "res_blocks.",
        "upsampler.",
        "post_upsample_res_blocks.",
        "final_conv.",
    ),  # fmt: skip
}
LORA_MARKERS = (".lora_A.", ".lora_B.", ".lora_down.", ".lora_up.")
TRANSFORMER_PREFIX = "model.diffusion_model."
_MAX_HEADER = 256 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used as it is; the message says why and what to do."""


def parse_model_version(version: str | None) -> tuple[int, ...]:
    """A `model_version` string as a tuple that compares by generation, as the official pipelines read
    it: "-" counts as ".", and only the leading integer parts are kept ("2.3.rc1" -> (2, 3),
    "2.4-rc2" -> (2, 4), "2.5.0" -> (2, 5, 0)). None, "" or a non-numeric start give (), which is
    older than every real version."""
    parts = []
    for part in str(version or "").replace("-", ".").split("."):
        if not (part.isascii() and part.isdigit()):
            break
        parts.append(int(part))
    return tuple(parts)


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class TensorInfo:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # byte offset from the start of the file
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


class Checkpoint:
    """An opened safetensors file. `Checkpoint(path)` validates the whole header up front."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: no such file")
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{self.path}: not a safetensors file ({size} bytes, too short for a header)")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, _MAX_HEADER):
                raise CheckpointError(
                    f"{self.path}: not a safetensors file, or truncated inside its header "
                    f"(header length field says {n} bytes, file holds {size})"
                )
            raw = f.read(n)
        try:
            header = json.loads(raw)
            if not isinstance(header, dict):
                raise ValueError("header is not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{self.path}: not a safetensors file (header is not valid JSON: {e})") from None
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise CheckpointError(f"{self.path}: malformed header: '__metadata__' must map names to strings, got "
                                  f"{_short(metadata)}")  # fmt: skip
        self.metadata: dict[str, str] = metadata
        self._data_start = 8 + n
        self.tensors: dict[str, TensorInfo] = {}
        data_size = size - self._data_start
        spans = []
        for name, entry in header.items():
            info, begin, end = self._entry(name, entry)
            spans.append((begin, end, name))
            self.tensors[name] = info
        # as the safetensors library: the tensors' byte ranges tile the data exactly, in offset order
        expected = 0
        for begin, end, name in sorted(spans):
            if begin != expected:
                what = "overlaps the tensor before it" if begin < expected else "leaves a gap before it"
                raise CheckpointError(f"{self.path}: malformed header: the data of {name!r} ({begin}..{end}) {what} "
                                      f"(the previous ends at {expected}); the file is damaged or not a safetensors "
                                      "file")  # fmt: skip
            expected = end
        if expected > data_size:
            raise CheckpointError(
                f"{self.path}: file is truncated: its header describes {expected:,} bytes of tensor data but "
                f"only {data_size:,} are present. Download it again (compare its size or checksum)."
            )
        if expected < data_size:
            raise CheckpointError(f"{self.path}: {data_size - expected:,} bytes after the last tensor that no header "
                                  "entry describes; the file is damaged or not a safetensors file")  # fmt: skip
        self._mmap: mmap.mmap | None = None

    def _entry(self, name: str, entry) -> tuple[TensorInfo, int, int]:
        """One header entry checked: a known dtype, a shape of non-negative integers, offsets that fit it."""

        def bad(why: str) -> CheckpointError:
            return CheckpointError(f"{self.path}: malformed header entry for {name!r} ({why}): {_short(entry)}")

        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise bad("expected exactly dtype, shape and data_offsets")
        if not isinstance(entry["dtype"], str) or entry["dtype"] not in DTYPES:
            raise bad(f"unknown dtype; known: {', '.join(DTYPES)}")
        shape, offsets = entry["shape"], entry["data_offsets"]
        whole = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
        if not isinstance(shape, list) or not all(whole(d) for d in shape):
            raise bad("the shape must be a list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(whole(o) for o in offsets):
            raise bad("data_offsets must be two non-negative integers")
        begin, end = offsets
        dtype = DTYPES[entry["dtype"]]
        info = TensorInfo(dtype, tuple(shape), self._data_start + begin, end - begin)
        if end < begin or info.nbytes != info.numel * dtype.itemsize:
            raise bad(f"its offsets span {end - begin} bytes, its shape and dtype need {info.numel * dtype.itemsize}")
        return info, begin, end

    # -- metadata --------------------------------------------------------------------------------
    @cached_property
    def config(self) -> dict[str, Any]:
        """The parsed `config` metadata ({} when the file carries none)."""
        raw = self.metadata.get("config")
        if raw is None:
            return {}
        try:
            config = json.loads(raw)
        except ValueError as e:
            raise CheckpointError(f"{self.path}: the 'config' metadata is not valid JSON ({e})") from None
        if not isinstance(config, dict):
            raise CheckpointError(f"{self.path}: the 'config' metadata must be a JSON object, got {_short(config)}")
        return config

    def section(self, name: str) -> dict[str, Any] | None:
        """The `config` metadata's section `name` (None when absent); one of another JSON type is an error."""
        value = self.config.get(name)
        if value is not None and not isinstance(value, dict):
            raise CheckpointError(f"{self.path}: the 'config' metadata's {name!r} section must be a JSON object, got "
                                  f"{_short(value)}")  # fmt: skip
        return value

    @property
    def model_version(self) -> str | None:
        return self.metadata.get("model_version")

    @property
    def version(self) -> tuple[int, ...]:
        """`model_version` as comparable numbers: "2.3.rc1" -> (2, 3), "2.4-rc2" -> (2, 4); () when absent."""
        return parse_model_version(self.model_version)

    @cached_property
    def kind(self) -> str:
        """What the file is, from its keys and metadata: one of `ltx.files.KINDS`."""
        from ltx.files import file_kind

        return file_kind(self)

    # -- keys --------------------------------------------------------------------------------------
    def component_of(self, key: str) -> str:
        if any(m in key for m in LORA_MARKERS):
            return "lora"
        for component, prefixes in COMPONENTS.items():
            if key.startswith(prefixes):
                return component
        return "other"

    @cached_property
    def components(self) -> dict[str, list[str]]:
        """Component name -> its keys, in file order."""
        out: dict[str, list[str]] = {}
        for key in self.tensors:
            out.setdefault(self.component_of(key), []).append(key)
        return out

    def dtype_counts(self, keys: Iterable[str]) -> Counter:
        return Counter(str(self.tensors[k].dtype).removeprefix("torch.") for k in keys)

    def numel(self, keys: Iterable[str]) -> int:
        return sum(self.tensors[k].numel for k in keys)

    # -- tensors -----------------------------------------------------------------------------------
    def new_map(self) -> mmap.mmap:
        """A private copy-on-write mapping of the file: writes through its views stay in this process
        and in this mapping, so two models loaded through two mappings never share a changed page."""
        with open(self.path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)

    def tensor(self, key: str, mapping: mmap.mmap | None = None) -> torch.Tensor:
        """A CPU tensor that views the file's memory map (`mapping`, or one shared by this object)."""
        info = self.tensors[key]
        if info.numel == 0:
            return torch.empty(info.shape, dtype=info.dtype)
        if mapping is None:
            if self._mmap is None:
                self._mmap = self.new_map()
            mapping = self._mmap
        if info.start % info.dtype.itemsize:  # unaligned data: copy rather than make a misaligned view
            data = bytearray(mapping[info.start : info.start + info.nbytes])
            return torch.frombuffer(data, dtype=info.dtype).reshape(info.shape)
        t = torch.frombuffer(mapping, dtype=info.dtype, count=info.numel, offset=info.start)
        return t.reshape(info.shape)

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, {len(self.tensors)} tensors)"


def load_state(
    module: nn.Module,
    ckpt: Checkpoint,
    keys: dict[str, str],
    owned: set[str],
    *,
    device: str | torch.device,
    dtype: torch.dtype,
    what: str,
    optional: dict[str, torch.Tensor] | None = None,
    keep_dtype: Callable[[str, torch.Tensor], bool] = lambda name, t: False,
) -> nn.Module:
    """Fill `module` (built on the meta device) from `ckpt`, strictly, and return it in eval mode.

    keys: each state-dict name -> its key in the file. owned: every file key this module answers
    for (one left unused is unexpected). optional: values for names the file may leave out.
    Floating tensors are cast to `dtype` unless `keep_dtype(name, tensor)`; tensors are assigned
    one at a time from a memory map, so no second copy of the file is ever held (on the CPU in the
    file's dtype the parameters are views of the map, at the file's offsets, as ltx-core's loader gives them: CPU
    products round by their operands' alignment, and copying the views to aligned memory was tried and lost the
    bitwise VAE comparisons with ltx-core while gaining ltx-video's, whose loader allocates fresh tensors).
    """
    optional = optional or {}
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{ckpt.path}: the {what} was asked for on {device}, but torch sees no CUDA device; "
                         "load it with device='cpu'")  # fmt: skip
    names = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    dtype = names.get(dtype.removeprefix("torch."), dtype) if isinstance(dtype, str) else dtype
    if dtype not in names.values():
        raise ValueError(f"{ckpt.path}: dtype must be one of torch.bfloat16 / float16 / float32 (float8 weights load "
                         f"as float8 whatever it is), got {dtype!r}")  # fmt: skip
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    missing = sorted(keys[n] for n in expected if keys[n] not in ckpt.tensors and n not in optional)
    unexpected = sorted(owned - set(keys.values()))
    shapes = [
        f"{keys[n]}: file {ckpt.tensors[keys[n]].shape}, model {s}"
        for n, s in expected.items()
        if keys[n] in ckpt.tensors and ckpt.tensors[keys[n]].shape != s
    ]
    if missing or unexpected or shapes:
        lines = [f"{ckpt.path}: the {what} weights do not match its config"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if items:
                lines.append(f"  {len(items)} {title}: " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise CheckpointError("\n".join(lines))
    params = module.state_dict()
    floating = lambda n: ckpt.tensors[keys[n]].dtype.is_floating_point  # noqa: E731
    kinds = [f"{keys[n]}: stored {ckpt.tensors[keys[n]].dtype}, the model needs {params[n].dtype}" for n in expected
             if keys[n] in ckpt.tensors and floating(n) != params[n].dtype.is_floating_point]  # fmt: skip
    if kinds:
        raise CheckpointError(f"{ckpt.path}: the {what} weights have the wrong kind of dtype (integer for float or the "
                              f"reverse): {', '.join(kinds[:5])}; the file is not this model's")  # fmt: skip
    state, mapping = {}, ckpt.new_map()  # a mapping of its own: models never share file pages
    for name in expected:
        t = ckpt.tensor(keys[name], mapping) if keys[name] in ckpt.tensors else optional[name]
        cast = t.is_floating_point() and not keep_dtype(name, t)
        state[name] = t.to(device=device, dtype=dtype if cast else t.dtype)
    module.load_state_dict(state, strict=True, assign=True)
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class CheckpointSet:
    """Several safetensors files read as one, e.g. a sharded Hugging Face model folder. Has what
    `load_state` uses of a Checkpoint: `path`, `tensors`, `new_map()` and `tensor(key, mapping)`."""

    def __init__(self, files: Iterable[str | os.PathLike], path: str | os.PathLike):
        self.path = Path(path)
        self.files = [Checkpoint(f) for f in files]
        self.tensors: dict[str, TensorInfo] = {}
        self._owner: dict[str, Checkpoint] = {}
        for ckpt in self.files:
            for key, info in ckpt.tensors.items():
                if key in self._owner:
                    raise CheckpointError(f"{self.path}: {key!r} is in both {self._owner[key].path} and {ckpt.path}")
                self.tensors[key], self._owner[key] = info, ckpt

    def new_map(self) -> dict[Path, mmap.mmap]:
        return {}  # one private mapping per file, opened when first read

    def tensor(self, key: str, mapping: dict[Path, mmap.mmap] | None = None) -> torch.Tensor:
        ckpt = self._owner[key]
        if mapping is None:
            return ckpt.tensor(key)
        if ckpt.path not in mapping:
            mapping[ckpt.path] = ckpt.new_map()
        return ckpt.tensor(key, mapping[ckpt.path])
