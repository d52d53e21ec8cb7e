# Source on the lent GPU machine (device tool), from the repository root: installs the official
# packages carried as wheels in .whl/ (the GPU image has torch, transformers and safetensors) and
# makes this checkout importable, kernels/ as ltx_kernels as setup.py maps it.
# .whl/ is filled here: the 1.2.0 wheels of ../shared/oracle, then `pip download --no-deps --only-binary=:all:
# --python-version 3.12 --platform manylinux_2_28_x86_64 -d .whl ltx-video diffusers einops sentencepiece protobuf av
# pillow openimageio` (the GPU image's Python is 3.12), and ltx-core 1.0.0 in .whl/older/ (`pip download --no-deps`).
python3 -m pip install -q --no-index --find-links .whl --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site ltx-core ltx-pipelines ltx-video diffusers einops sentencepiece protobuf av pillow openimageio
mkdir -p /tmp/lk && ln -sfn "$PWD/kernels" /tmp/lk/ltx_kernels
export PYTHONPATH=/tmp/site:/tmp/lk:$PWD PYTHONUNBUFFERED=1
export OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
# ltx-core 1.0.0 as the e2e suites' older peer (ltx/bench/older.py), when its wheel travels in .whl/older/
if ls .whl/older/ltx_core-1.0.0-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site100 .whl/older/ltx_core-1.0.0-*.whl
  export LTX_CORE_1_0_0=/tmp/site100
fi
