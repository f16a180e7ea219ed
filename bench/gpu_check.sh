#!/usr/bin/env bash
# Run ON THE GPU MACHINE (the device tool, after bench/gpu_prepare.sh here): one call measures everything
# of issues #15 and #16 into $OUT (gpu_suite.json, gpu_suite.md, logs). Nothing is installed system-wide:
# the carried wheels go to /tmp/site and the checkout is put on PYTHONPATH (the machine's Python 3.12
# with its own torch and CuPy runs it). Extra arguments go to bench/gpu_suite.py (e.g. --only tests,check).
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
OUT=${OUT:-$PWD/gpu_suite_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .gpu_shared ]; then
    export GLFCR_SHARED_DIR="$PWD/.gpu_shared"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia_smi.txt"
# the suite keeps its own time budget (--budget, default 480 s); this is the backstop below the call's limit
timeout "${SUITE_TIMEOUT:-560}" python3 bench/gpu_suite.py --out "$OUT" --scene-dir /tmp/glfcr_scene "$@" 2>&1 \
    | tee "$OUT/gpu_suite.log"
exit "${PIPESTATUS[0]}"
