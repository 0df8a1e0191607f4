#!/usr/bin/env bash
# Runs the long reports one after the other (each uses both cores), in a snapshot of the code so that
# editing the working tree cannot change a run halfway: bash bench/run_all.sh SNAPSHOT_DIR
set -u
cd "${1:?snapshot directory}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export KZOO_DATA_DIR="${KZOO_DATA_DIR:-/work/shared/data}" KZOO_OFFLINE="${KZOO_OFFLINE:-1}"  # the snapshot has no ../shared
source scripts/env.sh
PY=/work/main/.venv/bin/python
log() { echo "[$(date +%H:%M:%S)] $*"; }
[ -d bench/weights/lenet5-fashion_mnist ] || { log "presets (trains lenet5:fashion_mnist)"; $PY bench/install_presets.py; }
for e in vae-mnist dcgan-mnist dcgan-fashion_mnist ddpm_small-mnist wgan_gp-mnist vae_2d-mnist; do
  log "generative $e"; $PY bench/generative_report.py --only $e
done
log "transfer lenet5 + resnet20"; $PY bench/transfer_report.py
for e in ddpm_small-fashion_mnist wgan_gp-fashion_mnist; do
  log "generative $e"; $PY bench/generative_report.py --only $e
done
log "catalog"; $PY bench/install_presets.py --catalog-only
log "done"
