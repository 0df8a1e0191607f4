#!/usr/bin/env bash
# Sets everything up, trains LeNet-5 on MNIST and evaluates it, then exports it, serves it with the
# embedded TF Serving-compatible server and queries it over gRPC and REST with real test digits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
RUN=${RUN:-runs/lenet5-mnist-main}
rm -rf "$RUN"
.venv/bin/zoo train lenet5 --dataset mnist --epochs "${EPOCHS:-10}" --lr 0.002 --augment shift --out "$RUN"
.venv/bin/zoo evaluate lenet5 --weights "$RUN" --dataset mnist --json

# Export -> serve -> query, as in production (the same files run on tensorflow/serving).
MODELS=${MODELS:-runs/models}
GRPC_PORT=${GRPC_PORT:-8500}
REST_PORT=${REST_PORT:-8501}
.venv/bin/zoo export lenet5 --weights "$RUN" --base-path "$MODELS" --json
.venv/bin/python - "$RUN" <<'PY'
import sys
from PIL import Image
from zoo import data
_, test = data.load("mnist", "test")
for i in range(3):
    Image.fromarray(test.images[i][..., 0]).save(f"{sys.argv[1]}/digit{i}-label{test.labels[i]}.png")
PY
.venv/bin/zoo serve --model_config_file "$MODELS/models.config" --port "$GRPC_PORT" --rest_api_port "$REST_PORT" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
.venv/bin/python -c "from zoo import serving; serving.Client('localhost:$GRPC_PORT').wait_until_available('lenet5', timeout=180)"
.venv/bin/zoo predict --server "localhost:$GRPC_PORT" --model lenet5 --input "$RUN"/digit*.png --top-k 3
.venv/bin/python - "$REST_PORT" <<'PY'
import sys, urllib.request
base = f"http://localhost:{sys.argv[1]}/v1/models/lenet5"
print("REST status:", urllib.request.urlopen(base).read().decode())
PY
kill -TERM $SERVER
wait $SERVER
trap - EXIT
