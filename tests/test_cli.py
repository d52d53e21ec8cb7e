"""The `ltx` command as a user runs it."""

import json
import subprocess
import sys

import pytest
from util import needs_1_2

from ltx.cli import main


def test_inspect(tiny, capsys):
    assert main(["inspect", str(tiny["ltx-2.0-fp8-cast-tiny"])]) == 0
    out = capsys.readouterr().out
    assert "model_version:  2.0.0" in out
    assert "float8_e4m3fn 168, bfloat16 102" in out
    assert "text_connectors" in out
    assert "84 cast (no scale), 0 scaled; in blocks 0-2" in out
    assert "rope_type                              interleaved" in out


def test_inspect_bad_file_exits_2(tmp_path, capsys):
    (tmp_path / "x.safetensors").write_bytes(b"hello")
    assert main(["inspect", str(tmp_path / "x.safetensors")]) == 2
    assert "not a safetensors file" in capsys.readouterr().err


@pytest.mark.oracle
@needs_1_2
def test_parity_on_a_checkpoint_writes_a_passing_report(tiny, tmp_path, capsys):
    report = tmp_path / "report.json"
    assert (
        main(["parity", str(tiny["ltx-2.3-tiny"]), "--json", str(report), "--frames", "9", "--parts", "transformer"])
        == 0
    )
    out = capsys.readouterr().out
    assert "52/52 tensors pass; every compared tensor is bitwise equal to the official" in out
    data = json.loads(report.read_text())
    assert data["passed"] and len(data["rows"]) == 52 and data["dtype"] == "float32"


@pytest.mark.oracle
def test_parity_with_the_older_oracle_says_what_it_skips(tiny, monkeypatch, capsys):
    """Without ../shared a user gets ltx-core 1.0.0 from PyPI: `ltx parity` checks what that oracle can (with its
    A/V modulation rule) and names, a line each, what needs 1.2.0, instead of failing."""
    import ltx.parity.oracle as oracle

    monkeypatch.setattr(oracle, "oracle_version", lambda: "1.0.0")
    assert main(["parity", "--parts", "mel,conditioning,dfr,diffusion_vae"]) == 0
    out = capsys.readouterr().out
    why = "skipped, needs ltx-core >= 1.2.0 as the oracle (ltx-core 1.0.0 is installed)"
    for what in ("built-in checkpoint ltx-2.5-tiny", "built-in checkpoint ltx-2.5-audio-vae-tiny",
                 "LTX-2.5 conditioning, HDR transforms and DFR", "built-in LTX-2.5 VAE files"):  # fmt: skip
        assert f"{what}" in out and why in out.split(what, 1)[1].splitlines()[0], what
    assert "A/V modulation other-sigma" in out and "[LTX-2.5 conditioning and HDR]" not in out
    assert main(["parity", "--parts", "transformer", "--av-modulation", "own-timesteps"]) == 2  # asked for: refused
    assert "needs ltx-core >= 1.1.4" in capsys.readouterr().err
    assert main(["parity", str(tiny["ltx-2.5-tiny"])]) == 2  # an LTX-2.5 file given: said, before any work
    assert f"ltx-2.5-tiny.safetensors (LTX-2.5.0): {why}" in capsys.readouterr().out


def test_parity_rejects_bad_clip_sizes(capsys):
    assert main(["parity", "--frames", "10"]) == 2
    assert "1 + 8k" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "ltx.cli", "parity", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--dtype" in out.stdout


@pytest.mark.oracle
def test_parity_on_a_file_with_a_vae_and_an_upsampler(tiny, tmp_path, capsys):
    from ltx.parity.fixtures import write_tiny_upsampler

    up = write_tiny_upsampler("ltx-2-upsampler-x2-tiny", tmp_path / "up.safetensors")
    assert main(["parity", str(tiny["ltx-2.0-tiny"]), "--parts", "vae", "--upsampler", str(up)]) == 0
    out = capsys.readouterr().out
    assert "[ltx-2.0-tiny video VAE]" in out and "[up upsampler]" in out
    assert "transformer]" not in out
    assert main(["parity", "--parts", "vae,nonsense"]) == 2


@pytest.mark.oracle
def test_parity_and_inspect_on_a_file_with_audio(tiny, capsys):
    path = str(tiny["ltx-2.3-tiny"])
    assert main(["parity", path, "--parts", "audio,mel"]) == 0
    out = capsys.readouterr().out
    assert "[mel front-end]" in out and "[ltx-2.3-tiny audio]" in out and "video VAE]" not in out
    assert "vocoder/bwe_generator.conv_post" in out and "54/54 tensors pass" in out
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "vocoder: BigVGAN-v2 (SnakeBeta) + bandwidth extension" in out and "output 48000 Hz" in out
    assert "audio VAE: ch 128 x (1, 2, 2)" in out
