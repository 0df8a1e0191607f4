# Sourced by the scripts: points KZOO_DATA_DIR at ../shared/data (the offline copies) when it exists.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${KZOO_DATA_DIR:-}" ] && [ -d "$here/../shared/data" ]; then
  export KZOO_DATA_DIR="$(cd "$here/../shared/data" && pwd)"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
