import importlib.util
import os

import pytest
import torch

from ltx.parity.oracle import pin_cpu_blas

pin_cpu_blas()  # before any computation: bitwise comparisons must not depend on where a tensor was allocated

from ltx.parity.fixtures import TINY, write_tiny_checkpoint  # noqa: E402

torch.use_deterministic_algorithms(True, warn_only=True)


def _blocks_the_oracle(config) -> bool:
    """`-m "not oracle"` (or LTX_BLOCK_ORACLE=1) runs without the official packages: importing one fails."""
    return bool(os.environ.get("LTX_BLOCK_ORACLE")) or "not oracle" in (config.option.markexpr or "")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")
    config.addinivalue_line(
        "markers", "oracle: compares with the official packages (ltx-core / ltx-pipelines / ltx-video)"
    )
    if _blocks_the_oracle(config):
        from ltx.testing import block_official_packages

        block_official_packages()


def _oracle_missing() -> bool:
    """Whether ltx-core cannot be imported (not installed, or blocked); nothing is imported."""
    try:
        return importlib.util.find_spec("ltx_core") is None
    except ImportError:
        return True


def pytest_collection_modifyitems(config, items):
    if _oracle_missing():
        oracle = pytest.mark.skip(reason="needs the official ltx-core as oracle (bash scripts/install.sh --test)")
        for item in items:
            if "oracle" in item.keywords:
                item.add_marker(oracle)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny(request, tmp_path_factory):
    """name -> path of each built-in tiny checkpoint, written once per test session: from the official modules'
    state dicts when the session runs oracle tests, else from our modules (ltx.testing, the same layout), so
    `pytest -m "not oracle"` never imports the official packages."""
    from ltx import testing

    oracle = any(item.get_closest_marker("oracle") for item in request.session.items)
    official = oracle and not _blocks_the_oracle(request.config)
    write = write_tiny_checkpoint if official else testing.write_tiny_checkpoint
    folder = tmp_path_factory.mktemp("tiny")
    return {name: write(name, folder / f"{name}.safetensors") for name in TINY}


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


@pytest.fixture(scope="session")
def diffusion_vae_ours(tmp_path_factory):
    """The tiny LTX-2.5 diffusion-VAE file with the layout taken from our modules (no official package needed)."""
    from ltx.parity.diffusion_vae_fixtures import write_tiny_diffusion_vae

    return write_tiny_diffusion_vae(tmp_path_factory.mktemp("dvae") / "ours.safetensors", official=False)


@pytest.fixture(scope="session")
def diffusion_vae_official(tmp_path_factory):
    """The same from the official modules' state dicts."""
    from ltx.parity.diffusion_vae_fixtures import write_tiny_diffusion_vae

    return write_tiny_diffusion_vae(tmp_path_factory.mktemp("dvae") / "official.safetensors")
