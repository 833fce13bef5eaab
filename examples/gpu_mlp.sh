#!/usr/bin/env bash
# The paper's MLP rows on one GPU: MNIST DiffPC-S and Fashion-MNIST DiffPC-M over seeds,
# MNIST DiffPC-L variants, each with its backprop twin; then the figures; then one archive.
#
#   bash examples/gpu_mlp.sh prepare     # once, where the data sets are: copy them to .gpudata/
#   bash examples/gpu_mlp.sh             # on the GPU machine, from the repository root
#
# Data: for a GPU machine that receives a copy of the working tree, `prepare` copies the two
# data sets' raw IDX files (~42 MiB) into $DATA_DIR (default .gpudata, git-ignored); copy
# .gpudata/MNIST and .gpudata/FashionMNIST along.
#
# Environment (all optional): RUN_DIR (default runs/gpu-mlp), DATA_DIR, PYTHON, DEVICE
# (default cuda), SEEDS (default "0 1 2"), L_VARIANTS (MNIST-L runs, seed 0 only),
# EPOCHS (run_presets.py --epochs items), MAX_MINUTES (per run, default 6), LIMIT_TRAIN
# (first N training samples: a smoke test), PACK (where the archive and the seed-0 DiffPC
# weights go; default $OUT when set, else $RUN_DIR/pack); for `prepare`: SOURCE_DIR
# (a folder with the data sets; required).
# Every run is `python -m lava_diffpc train` (see examples/run_presets.py); the numbers of
# a run are reproducible from its results.json options and seed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
RUN_DIR="${RUN_DIR:-runs/gpu-mlp}"
DATA="${DATA_DIR:-.gpudata}"
DEVICE="${DEVICE:-cuda}"
SEEDS="${SEEDS:-0 1 2}"
L_VARIANTS="${L_VARIANTS:-mnist-l mnist-l:m=0 mnist-l:m=-2,target_scale=2 mnist-l:m=-2,target_scale=4}"
EPOCHS="${EPOCHS:-mnist-s=10 fmnist-m=8 mnist-l=5}"
MAX_MINUTES="${MAX_MINUTES:-6}"
LIMIT=()
[ -n "${LIMIT_TRAIN:-}" ] && LIMIT=(--limit-train "$LIMIT_TRAIN")
PACK="${PACK:-${OUT:-$RUN_DIR/pack}}"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-.}"

if [ "${1:-}" = prepare ]; then
    src="${SOURCE_DIR:?set SOURCE_DIR to the folder with the data sets}"
    for d in MNIST FashionMNIST; do
        mkdir -p "$DATA/$d/raw"
        cp "$src/$d/raw/"*-ubyte* "$DATA/$d/raw/" || {
            echo "error: no IDX files in $src/$d/raw (set SOURCE_DIR)" >&2; exit 2; }
    done
    du -sh "$DATA"/MNIST "$DATA"/FashionMNIST
    exit
fi

mkdir -p "$RUN_DIR" "$PACK"
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) \
if torch.cuda.is_available() else 'no GPU')"
# shellcheck disable=SC2086  (word splitting of the lists is intended)
"$PY" examples/run_presets.py --presets mnist-s fmnist-m --seeds $SEEDS \
    --device "$DEVICE" --data-dir "$DATA" --epochs $EPOCHS --max-minutes "$MAX_MINUTES" \
    "${LIMIT[@]}" --out "$RUN_DIR/seeds" > "$RUN_DIR/seeds.log" 2>&1 &
seeds_pid=$!
# shellcheck disable=SC2086
"$PY" examples/run_presets.py --presets $L_VARIANTS --seeds 0 \
    --device "$DEVICE" --data-dir "$DATA" --epochs $EPOCHS --max-minutes "$MAX_MINUTES" \
    "${LIMIT[@]}" --out "$RUN_DIR/mnist-l" > "$RUN_DIR/mnist-l.log" 2>&1 &
l_pid=$!
status=0
wait $seeds_pid || status=1
wait $l_pid || status=1
cat "$RUN_DIR"/seeds/summary.txt "$RUN_DIR"/mnist-l/summary.txt

"$PY" -m lava_diffpc figures "$RUN_DIR"/seeds/*-s[0-9]/ "$RUN_DIR"/mnist-l/*-s0/ \
    --schedules mnist-s mnist-l fmnist-m --data-dir "$DATA" --device "$DEVICE" \
    --out "$RUN_DIR/figures" --no-progress || status=1

# the weights of every seed-0 DiffPC run (optimizer state dropped), then one archive
"$PY" - "$PACK" "$RUN_DIR"/seeds/*-s0 "$RUN_DIR"/mnist-l/*-s0 <<'EOF' || status=1
import sys
from pathlib import Path
import torch

pack = Path(sys.argv[1])
for run in map(Path, sys.argv[2:]):
    ckpt = run / "checkpoint-diffpc.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        keep = {k: state[k] for k in ("name", "model_opts", "params", "epoch", "train_cfg")}
        torch.save(keep, pack / f"{run.name}.pt")
        print(f"{pack / run.name}.pt")
EOF
tar czf "$PACK/gpu-mlp.tgz" --exclude='*.pt' "$RUN_DIR"/seeds "$RUN_DIR"/mnist-l \
    "$RUN_DIR"/figures "$RUN_DIR"/*.log
ls -la "$PACK"
exit $status
