"""The `ltx` subcommands, one module each; ltx/cli.py holds the argument parser."""

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
