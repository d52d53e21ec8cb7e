#!/usr/bin/env bash
# The 19B LoRA training step (rank 32) beside ltx-trainer 1.2.0's, composed from the wheels (device tool):
# `ltx bench train` at 512x768x49 and x121, gradient checkpointing on and off. REPEATS=N times fewer steps;
# PEERS="name|name" runs those variants alone (names as ltx/bench/train.py gives them), CHECKPOINTING=1 with
# gradient checkpointing alone.
set -euo pipefail
source scripts/gpu_env.sh
python3 -c "import peft; print('peft', peft.__version__)"
if [ -z "${PEERS:-}" ]; then
  python3 -m bench train --out "$OUT" ${REPEATS:+--repeats $REPEATS} 2>&1 | tee "$OUT/bench.txt" | tail -40
  exit
fi
python3 - <<PY 2>&1 | tee "$OUT/bench.txt" | tail -40
from pathlib import Path
from ltx.bench import environment, table, write
from ltx.bench.train import run
rows = run(repeats=int("${REPEATS:-5}"), peers=tuple("${PEERS}".split("|")),
           checkpointing=(True,) if "${CHECKPOINTING:-}" == "1" else (True, False))
print(table(rows))
write(Path("$OUT"), "train", environment(), rows)
PY
