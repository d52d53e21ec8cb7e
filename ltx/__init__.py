"""ltx: Lightricks' LTX-2 and LTX-Video models in plain PyTorch, checked against the official code."""

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.config import ConfigError, TransformerConfig
from ltx.dit import LTX2Transformer, Perturbation, Stream, load_transformer, to_x0

__version__ = "0.1.0"
__all__ = [
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "LTX2Transformer",
    "Perturbation",
    "Stream",
    "TransformerConfig",
    "load_transformer",
    "to_x0",
]
