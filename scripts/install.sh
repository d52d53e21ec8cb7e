#!/usr/bin/env bash
# Install ltx and the official reference packages it checks itself against.
#   bash scripts/install.sh          # for `ltx parity`
#   bash scripts/install.sh --test   # ... and the test dependencies
# torch: installed as 2.13.0 only when absent (an open requirement would pull several GB of CUDA
# wheels on a CPU machine). The official packages go in with --no-deps: ltx-core pins torchaudio,
# which has no build for this torch, and its model code runs without it; ltx-video pins an old
# transformers that its VAE never uses.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip"
python -c "import torch" 2>/dev/null || $PIP install "torch==2.13.0"
extras="oracle"
[ "${1:-}" = "--test" ] && extras="oracle,test"
$PIP install -e ".[$extras]"
$PIP install --no-deps "ltx-core==1.0.0" "ltx-pipelines==1.0.0" "ltx-video==0.1.2" "diffusers==0.42.1"
