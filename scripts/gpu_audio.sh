#!/usr/bin/env bash
# The audio path on the lent GPU (device tool), run from the repository root: the mel front-end
# against torchaudio (which loads there), full-size audio VAE + vocoder parity in float32 and bf16
# on random official-layout files, and bench/audio_decode.py. Outputs go to $OUT.
set -euo pipefail
source scripts/gpu_env.sh
python3 -c "import torchaudio; print('torchaudio', torchaudio.__version__)"
DATA=${DATA:-$PWD/.data}; mkdir -p "$DATA"
declare -A FILES=([ltx-2.0-audio]="ltx-2.audio_vae+ltx-2.vocoder" [ltx-2.3-audio]="ltx-2.audio_vae+ltx-2.3.vocoder")
for name in "${!FILES[@]}"; do
  python3 scripts/make_random_checkpoint.py "${FILES[$name]}" "$DATA/$name.safetensors"
done
python3 -m ltx.cli parity "$DATA/ltx-2.0-audio.safetensors" --parts mel --device cpu \
  --json "$OUT/parity-mel-cpu.json" > "$OUT/parity-mel-cpu.txt" || echo "mel parity FAILED on cpu"
tail -3 "$OUT/parity-mel-cpu.txt"
for name in "${!FILES[@]}"; do
  for dtype in float32 bfloat16; do
    python3 -m ltx.cli parity "$DATA/$name.safetensors" --parts audio,mel --device cuda --dtype $dtype \
      --json "$OUT/parity-$name-$dtype.json" > "$OUT/parity-$name-$dtype.txt" || echo "parity FAILED for $name $dtype"
    tail -3 "$OUT/parity-$name-$dtype.txt"
  done
done
python3 bench/audio_decode.py "$DATA/ltx-2.0-audio.safetensors" "$DATA/ltx-2.3-audio.safetensors" \
  --json "$OUT/audio_decode.json" > "$OUT/audio_decode.txt"
python3 -c "
import json; r = json.load(open('$OUT/audio_decode.json'))
for f, tasks in r['files'].items():
    for task, row in tasks.items():
        if isinstance(row, dict): print(f, task, row['ltx-core'], row['ours'])"
