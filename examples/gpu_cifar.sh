#!/usr/bin/env bash
# CIFAR-10 on one GPU: DiffPC-Long (n=16, 144 steps) and DiffPC-Efficient (n=12, 108 steps),
# each with its backprop twin, trained side by side within a few minutes.
#
#   bash examples/gpu_cifar.sh prepare    # once, where the data sets are: write a subset
#   bash examples/gpu_cifar.sh            # on the GPU machine, from the repository root
#
# Data: for a GPU machine that receives a copy of the working tree with a size limit (the
# full CIFAR-10 file is 144 MB), `prepare` writes the first N_TRAIN (default 19000) training
# images and the 1000 stored test images to $DATA_DIR/cifar10/ under the file name the
# loader expects (about 53 MB); copy .gpudata/cifar10 (not the MNIST copies) along.
# results.json's n_train / n_heldout show how many images were used.
#
# Environment (all optional): OUT (results folder, default runs/gpu-cifar), DATA_DIR (folder
# holding cifar10/, default .gpudata), TRAIN_MINUTES (training budget per preset after the
# probe, default 3.0), EPOCHS (default 3), PYTHON (default python3), DEVICE (default cuda);
# for `prepare`: SOURCE_DIR (a folder with the data sets; required), N_TRAIN.
#
# 1. Probe: times one training batch of 256 per preset on the GPU (after a warm-up batch)
#    and sizes the run to the budget (with both presets sharing the GPU): as many epochs of
#    all training images (less 5000 held out) as fit, when at least EPOCHS do; else EPOCHS
#    epochs on the --limit-train subset that fits.
# 2. Trains both presets in parallel (`python -m lava_diffpc train`, DiffPC then backprop
#    each epoch; cosine learning rate over the epochs), 5,000 training images held out; every
#    epoch reports accuracy on the 1000 stored official test images (test_acc) and on the
#    held-out images (heldout_acc). --max-minutes stops a preset early if it runs slow.
# 3. Writes $OUT/probe.json, $OUT/<preset>/results.json, $OUT/<preset>.log and
#    $OUT/summary.txt; checkpoints are moved out of $OUT (KEEP_CHECKPOINTS=1 keeps them).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-runs/gpu-cifar}"
DATA="${DATA_DIR:-.gpudata}"
TRAIN_MINUTES="${TRAIN_MINUTES:-3.0}"
EPOCHS="${EPOCHS:-3}"
DEVICE="${DEVICE:-cuda}"
PRESETS=(cifar-long cifar-efficient)
NPZ=cifar10/cifar10_train_full_test_first1000.npz

if [ "${1:-}" = prepare ]; then
    "$PY" - "${SOURCE_DIR:?set SOURCE_DIR to the folder with the data sets}/$NPZ" "$DATA/$NPZ" "${N_TRAIN:-19000}" <<'EOF'
import sys
from pathlib import Path
import numpy as np

src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
with np.load(src) as f:
    arrays = {k: f[k] for k in f.files}
arrays["x_train"], arrays["y_train"] = arrays["x_train"][:n], arrays["y_train"][:n]
dst.parent.mkdir(parents=True, exist_ok=True)
np.savez_compressed(dst, **arrays)
mib = dst.stat().st_size / 2**20
print(f"{dst}: {len(arrays['y_train'])} train + {len(arrays['y_test'])} test images, {mib:.1f} MiB")
if mib > 60:
    sys.exit("error: too large for the device's 64 MiB working tree; lower N_TRAIN")
EOF
    exit
fi
mkdir -p "$OUT"

if [ ! -f "$DATA/$NPZ" ]; then
    echo "error: $DATA/$NPZ is missing (run 'bash examples/gpu_cifar.sh prepare' first)" >&2
    exit 2
fi
if ! "$PY" -c "import tqdm" 2>/dev/null; then
    "$PY" -m pip install --quiet --no-index --find-links .whl tqdm || {
        echo "error: tqdm is missing and not installable from .whl/" >&2; exit 2; }
fi

# ---------------------------------------------------------------- 1. probe
"$PY" - "$DATA" "$OUT" "$TRAIN_MINUTES" "$EPOCHS" "$DEVICE" "${PRESETS[@]}" <<'EOF' || exit 3
import json, sys, time
import numpy as np
import torch
from lava_diffpc.cli import full_fp32_convolutions
from lava_diffpc.data import load_dataset
from lava_diffpc.presets import preset
from lava_diffpc.train import _seeded, build_model

data, out, minutes, epochs, device = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
names = sys.argv[6:]
cuda = device.startswith("cuda")
if cuda:  # as the command line does at start-up: the training runs time the same kernels
    full_fp32_convolutions()
sync = torch.cuda.synchronize if cuda else (lambda: None)
device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
print(f"torch {torch.__version__}, {device_name}", flush=True)
ds = load_dataset("cifar10", data, flatten=False, limit_train=512, limit_test=1)
with np.load(f"{data}/cifar10/cifar10_train_full_test_first1000.npz") as f:
    n_total = len(f["y_train"])
x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
parallel_slowdown, budget = 1.5, 0.85 * 60 * minutes  # both presets share the GPU
probe = {"device": device_name, "torch": torch.__version__}


def conv_precision() -> str:
    cudnn = torch.backends.cudnn
    if hasattr(cudnn, "conv") and hasattr(cudnn.conv, "fp32_precision"):
        return cudnn.conv.fp32_precision
    return "tf32" if cudnn.allow_tf32 else "ieee"


for name in names:
    opts = {**preset(name), "seed": 0}
    model = build_model("diffpc", opts, device=device)
    times = []
    for i in range(3):  # batch 0 warms up CUDA and cuDNN
        sync()
        start = time.perf_counter()
        model.gradients(x[i * 128:i * 128 + 256], y[i * 128:i * 128 + 256],
                        generator=_seeded(0, 0, i, 1))
        sync()
        times.append(time.perf_counter() - start)
    t = min(times[1:])
    # an epoch's evaluation: 6000 images (test + held out), feed-forward phase only
    eval_cost = 6000 / 256 * model.config.schedule.k1 / model.config.schedule.steps * t
    full_epochs = int(budget / parallel_slowdown / ((n_total - 5000) / 256 * t + eval_cost))
    if full_epochs >= epochs:  # the whole training set, as many epochs as fit
        limit, n_epochs = n_total, full_epochs
    else:  # EPOCHS epochs on a subset that fits
        batches = max(int((budget / epochs / parallel_slowdown - eval_cost) / t), 10)
        limit, n_epochs = min(n_total, 5000 + 256 * batches), epochs
    probe[name] = {"train_batch_256_s": t, "warmup_s": times[0], "limit_train": limit,
                   "epochs": n_epochs, "cudnn_conv_fp32": conv_precision()}
    print(f"{name}: {t:.3f} s per training batch of 256 (warm-up {times[0]:.1f} s) -> "
          f"{n_epochs} epochs of {limit - 5000} images (+ 5000 held out)", flush=True)
json.dump(probe, open(f"{out}/probe.json", "w"), indent=2)
EOF

# ---------------------------------------------------------------- 2. train
pids=()
for name in "${PRESETS[@]}"; do
    read -r limit epochs < <("$PY" -c "import json; p = json.load(open('$OUT/probe.json'))['$name']
print(p['limit_train'], p['epochs'])")
    cmd=("$PY" -m lava_diffpc train --preset "$name" --device "$DEVICE" --data-dir "$DATA"
         --out "$OUT/$name" --epochs "$epochs" --limit-train "$limit" --heldout 5000
         --max-minutes "$TRAIN_MINUTES" --no-progress --threads 2 --checkpoint-every 1000)
    echo "${cmd[*]}"
    "${cmd[@]}" > "$OUT/$name.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done

# ---------------------------------------------------------------- 3. summary
if [ "${KEEP_CHECKPOINTS:-0}" != 1 ]; then
    mkdir -p "${CHECKPOINTS:-$OUT/../checkpoints}"
    for name in "${PRESETS[@]}"; do
        mv "$OUT/$name"/checkpoint-*.pt "${CHECKPOINTS:-$OUT/../checkpoints}"/ 2>/dev/null
    done
fi
"$PY" - "$OUT" "${PRESETS[@]}" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
for name in sys.argv[2:]:
    path = out / name / "results.json"
    if not path.exists():
        print(f"{name}: no results.json; see {out / name}.log")
        continue
    r = json.loads(path.read_text())
    print(f"{name}: {r['n_train']} train, {r['n_test']} test, {r['n_heldout']} held out")
    for model in ("diffpc", "bp"):
        m = r.get(model)
        if not m or not m["history"]:
            continue
        last = m["history"][-1]
        line = (f"  {model:<6} epochs {m['epochs_done']}: test {100 * m['final_test_acc']:.2f}% "
                f"(best {100 * m['best_test_acc']:.2f}%), held-out "
                f"{100 * m['final_heldout_acc']:.2f}% (best {100 * m['best_heldout_acc']:.2f}%), "
                f"{last['train_samples_per_s']:.0f} train samples/s")
        if "train_comm" in last:
            learn = last["train_comm"]["learn"]
            line += (f", learning-phase error bits/neuron {learn['error_bits_all']:.3f}, "
                     f"activity bits/neuron {learn['activity_bits_all']:.3f}")
        print(line)
EOF
exit $status
