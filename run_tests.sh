#!/usr/bin/env bash
# Runs the test suite headless with the .venv that install.sh made; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
if [ ! -x .venv/bin/python ]; then
    echo "No .venv/: run ./install.sh first (as root)." >&2
    exit 1
fi
export QT_QPA_PLATFORM=offscreen
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    # pytest's "no tests collected" is a failure here: a suite that ran nothing proves nothing
    echo "run_tests.sh: pytest collected no tests." >&2
fi
exit "$status"
