#!/usr/bin/env bash
# Kernels on the lent GPU (device tool): the GPU tests (bf16 at the model's shapes), then the benchmark suites
# (python -m bench SUITES), results under $OUT. Usage: SUITES="attention norm gemm" bash scripts/gpu_kernels.sh
set -euo pipefail
source scripts/gpu_env.sh
python3 -c "import triton; print('triton', triton.__version__)"
python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q --no-index --find-links .whl --target /tmp/site pytest
if [ "${TESTS:-1}" = "1" ]; then
  python3 -m pytest -q -m gpu tests/test_kernels.py -p no:cacheprovider 2>&1 | tail -15 | tee "$OUT/gpu_tests.txt"
fi
python3 -m bench ${SUITES:-ceilings attention norm gemm e2e} --out "$OUT" 2>&1 | grep -v "^{" | tee "$OUT/bench.txt" | tail -80
