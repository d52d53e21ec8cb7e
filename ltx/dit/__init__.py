"""Diffusion transformers: LTX-2 dual stream (audio + video) and its video-only variant."""

from ltx.dit.inputs import Perturbation, Stream
from ltx.dit.loading import load_transformer, transformer_config
from ltx.dit.ltx2 import AV_MODULATIONS, LTX2Transformer, to_x0

__all__ = [
    "AV_MODULATIONS",
    "LTX2Transformer",
    "Perturbation",
    "Stream",
    "load_transformer",
    "to_x0",
    "transformer_config",
]
