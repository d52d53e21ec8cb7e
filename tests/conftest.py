import os

import pytest
import torch

from ltx.parity.fixtures import TINY, write_tiny_checkpoint

torch.use_deterministic_algorithms(True, warn_only=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """name -> path of each built-in tiny checkpoint, written once per test session."""
    folder = tmp_path_factory.mktemp("tiny")
    return {name: write_tiny_checkpoint(name, folder / f"{name}.safetensors") for name in TINY}


@pytest.fixture(scope="session")
def tiny_dir(tiny):
    return os.path.dirname(next(iter(tiny.values())))


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory):
    """A tiny Gemma-3 folder in the Hugging Face layout, sized for the tiny files' text side."""
    from ltx.parity.text_fixtures import write_tiny_gemma

    return write_tiny_gemma(tmp_path_factory.mktemp("gemma") / "gemma-3-tiny")


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory):
    from ltx.parity.text_fixtures import write_tiny_t5

    return write_tiny_t5(tmp_path_factory.mktemp("t5") / "t5-tiny")
