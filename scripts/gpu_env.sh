# Source on the lent GPU machine (device tool), from the repository root: installs the official
# packages carried as wheels in .whl/ (the GPU image has torch, transformers and safetensors) and
# makes this checkout importable, kernels/ as ltx_kernels as setup.py maps it.
python3 -m pip install -q --no-index --find-links .whl --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site ltx-core ltx-pipelines ltx-video diffusers einops sentencepiece protobuf av pillow
mkdir -p /tmp/lk && ln -sfn "$PWD/kernels" /tmp/lk/ltx_kernels
export PYTHONPATH=/tmp/site:/tmp/lk:$PWD PYTHONUNBUFFERED=1
export OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
