#!/usr/bin/env bash
# Install ltx and the official reference packages it checks itself against.
#   bash scripts/install.sh          # for `ltx parity`
#   bash scripts/install.sh --test   # ... and the test dependencies
#   LTX_ORACLE=1.0.0 bash scripts/install.sh --test   # the 1.0.0 oracle instead (e.g. in a second venv)
# torch: installed as 2.13.0 only when absent (an open requirement would pull several GB of CUDA
# wheels on a CPU machine). The official packages go in with --no-deps: ltx-core pins torchaudio,
# which has no build for this torch, and its model code runs without it; ltx-video pins an old
# transformers that its VAE never uses.
# The oracle: ltx-core / ltx-pipelines 1.2.0 (not on PyPI) from the wheels in ../shared/oracle when that
# folder is beside the repository, otherwise the newest a user can get from PyPI, 1.0.0. `ltx parity` and
# the tests say which one they compare against; tests that need the other skip with a one-line reason.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip"
python -c "import torch" 2>/dev/null || $PIP install "torch==2.13.0"
extras="oracle"
[ "${1:-}" = "--test" ] && extras="oracle,test"
$PIP install -e ".[$extras]"
wheels=../shared/oracle
if [ "${LTX_ORACLE:-1.2.0}" = "1.2.0" ] && ls $wheels/ltx_core-1.2.0-*.whl >/dev/null 2>&1; then
    echo "install.sh: oracle = ltx-core / ltx-pipelines 1.2.0 from $wheels"
    $PIP install --no-deps $wheels/ltx_core-1.2.0-*.whl $wheels/ltx_pipelines-1.2.0-*.whl
    # ltx-trainer 1.2.0: the oracle of a training step (its strategies and samplers; peft from the oracle extra)
    ls $wheels/ltx_trainer-1.2.0-*.whl >/dev/null 2>&1 && $PIP install --no-deps $wheels/ltx_trainer-1.2.0-*.whl
else
    why="1.2.0 wheels not found in $wheels"
    [ "${LTX_ORACLE:-1.2.0}" = "1.0.0" ] && why="LTX_ORACLE=1.0.0"
    echo "install.sh: oracle = ltx-core / ltx-pipelines 1.0.0 from PyPI ($why)"
    $PIP install --no-deps "ltx-core==1.0.0" "ltx-pipelines==1.0.0"
fi
$PIP install --no-deps "ltx-video==0.1.2" "diffusers==0.42.1"
# transformers: 5.8 <= version < 5.15, as ltx-core 1.2.0 pins it (5.15 cannot build Gemma 4's
# `gemma4_unified` model); setup.py asks for the same range, so this only reports it.
python -c "import transformers; print('install.sh: transformers', transformers.__version__)"
