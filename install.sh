#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 machine (run as root, from the repository root):
#   QGIS 3.22 and GDAL's Python bindings from Debian, a .venv/ holding torch (CPU), dask and the test tools,
#   and the plugin deployed and enabled in the default QGIS profile.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
repo=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh installs Debian packages: run it as root (sudo ./install.sh)." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# python3-rasterio and python3-scipy come from Debian so they share QGIS's GDAL and numpy 1.24.
apt-get install -y -q --no-install-recommends \
    qgis qgis-providers python3-qgis \
    python3-rasterio python3-scipy python3-numpy python3-venv python3-pip \
    xvfb xauth zip >/dev/null

# The venv sees Debian's packages (PyQGIS, rasterio, numpy 1.24); only torch, dask and test tools live in it.
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
# The torch version the plugin is tested with: glfcr_qgis/tested_versions.txt is the one place naming it
# (the Install dependencies algorithm reads it too).
torch_pin=$(awk '$2 == "always" && $1 ~ /^torch==/ {print $1}' glfcr_qgis/tested_versions.txt)
# A constraint keeps pip from replacing Debian's numpy 1.24 (GDAL's bindings need it) or torch.
cat > .venv/constraints.txt <<TXT
numpy==$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
${torch_pin}
TXT
# Packages of the s2cloudless cloud mask method (lightgbm; s2cloudless itself without its dependencies:
# its model file and pixel classifier are all the plugin loads, its sentinelhub download client is never
# imported), of Remove Clouds on many scenes (dask, distributed) and the tests' OpenCV (s2cloudless's own
# detector as the oracle), pinned in the same file.
optional=$(awk '!/^#/ && ($2 == "optional" || $2 == "tests") {print $1}' glfcr_qgis/tested_versions.txt)
optional_no_deps=$(awk '!/^#/ && $2 == "optional-no-deps" {print $1}' glfcr_qgis/tested_versions.txt)
# shellcheck disable=SC2086  # one word per requirement
.venv/bin/pip install -q -c .venv/constraints.txt "$torch_pin" pytest psutil $optional
# shellcheck disable=SC2086
.venv/bin/pip install -q -c .venv/constraints.txt --no-deps $optional_no_deps

# Deploy: the default profile's plugin folder gets a link to the package, so QGIS and qgis_process
# load this checkout; the plugin finds .venv through that link (glfcr_qgis/dependencies.py).
# Under sudo the profile is the calling user's (QGIS runs as them), not root's.
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    user=$SUDO_USER
    home=$(getent passwd "$user" | cut -d: -f6)
else
    user=$(id -un)
    home=$HOME
fi
as_user() {
    if [ "$user" = "$(id -un)" ]; then "$@"; else runuser -u "$user" -- env HOME="$home" "$@"; fi
}
if [ "$user" != "$(id -un)" ]; then
    chown -R "$user": .venv
fi
plugins="${home}/.local/share/QGIS/QGIS3/profiles/default/python/plugins"
as_user mkdir -p "$plugins"
as_user ln -sfn "$repo/glfcr_qgis" "$plugins/glfcr_qgis"
# "enable" exits 1 with "Plugin is already enabled!" on a second run; the listing below is the real check.
as_user env QT_QPA_PLATFORM=offscreen /usr/bin/qgis_process.bin plugins enable glfcr_qgis >/dev/null 2>&1 || true

count=$(as_user env QT_QPA_PLATFORM=offscreen /usr/bin/qgis_process.bin list 2>/dev/null | grep -c '^\s*glfcr:' || true)
if [ "$count" -eq 0 ]; then
    echo "install.sh: qgis_process does not list the glfcr algorithms; see: QT_QPA_PLATFORM=offscreen qgis_process.bin plugins" >&2
    exit 1
fi
echo "GLF-CR plugin installed for user ${user}: ${count} algorithms visible to qgis_process."
