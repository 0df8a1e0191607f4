#!/usr/bin/env bash
# Runs the long reports one after the other (each uses both cores), in a snapshot of the code so that
# editing the working tree cannot change a run halfway:
#   KZOO_DATA_DIR=/path/to/data bash bench/run_all.sh SNAPSHOT_DIR
# The snapshot's code is imported (PYTHONPATH) with the dependencies of the active Python environment
# (`python`, or $PYTHON). A snapshot has no ../shared/data beside it, so name the data directory.
set -u
: "${KZOO_DATA_DIR:?set KZOO_DATA_DIR to the offline data sets (see README, Data)}"
cd "${1:?snapshot directory}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export KZOO_DATA_DIR KZOO_OFFLINE="${KZOO_OFFLINE:-1}"
source scripts/env.sh
PY="${PYTHON:-python}"
log() { echo "[$(date +%H:%M:%S)] $*"; }
[ -d zoo/pretrained/lenet5/fashion_mnist ] || { log "presets (trains lenet5:fashion_mnist)"; $PY bench/install_presets.py; }
for e in vae-mnist dcgan-mnist dcgan-fashion_mnist ddpm_small-mnist wgan_gp-mnist vae_2d-mnist; do
  log "generative $e"; $PY bench/generative_report.py --only $e
done
log "transfer lenet5 + resnet20"; $PY bench/transfer_report.py
for e in ddpm_small-fashion_mnist wgan_gp-fashion_mnist; do
  log "generative $e"; $PY bench/generative_report.py --only $e
done
log "catalog"; $PY bench/install_presets.py --catalog-only
log "done"
