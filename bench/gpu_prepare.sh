#!/usr/bin/env bash
# Run HERE (the development machine, with network) before a GPU call: gathers what the GPU machine lacks
# into two git-ignored folders that the device tool carries (`carry: [".whl", ".gpu_shared"]`):
#   .whl/         rasterio and its pure-Python needs as cp312 manylinux wheels (the GPU image has torch,
#                 CuPy, numpy, scipy, pytest, but no rasterio/GDAL and no network)
#   .gpu_shared/  the small shared test material the GPU tests read (not the 73 MB reference checkpoint:
#                 with the wheels it would pass the 64 MiB carry limit; bench/gpu_suite.py's "check"
#                 section compares CUDA with the CPU path on seeded weights instead)
# Then run on the GPU machine:  bash bench/gpu_check.sh   (see BENCHMARKS.md, "GPU").
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
shared=${GLFCR_SHARED_DIR:-../shared}
# both folders are in .gitignore: never committed, carried by naming them in `carry`
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl rasterio==1.4.3 affine==2.4.0 cligj==0.7.2 click-plugins==1.1.1.2
mkdir -p .gpu_shared/reference .gpu_shared/data
cp "$shared"/reference/{kernelconv_reference.pt,glfcr_reference_io.pt,metrics_reference.json} .gpu_shared/reference/
cp -r "$shared"/data/sen12mscr_samples .gpu_shared/data/
du -sh .whl .gpu_shared
echo "carry: [\".whl\", \".gpu_shared\"]; command: bash bench/gpu_check.sh"
