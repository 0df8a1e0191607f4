#!/usr/bin/env bash
# Sets everything up, then trains LeNet-5 on MNIST and evaluates it on the test split.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
RUN=${RUN:-runs/lenet5-mnist-main}
rm -rf "$RUN"
.venv/bin/zoo train lenet5 --dataset mnist --epochs "${EPOCHS:-10}" --lr 0.002 --augment shift --out "$RUN"
.venv/bin/zoo evaluate lenet5 --weights "$RUN" --dataset mnist --json
