#!/usr/bin/env bash
# The parallel engine (--workers) on the lent GPU machine: benchmarks/parallel.py's image search at 1 and 2
# workers there, and which processes held the GPU meanwhile (each worker should appear: one GPU per worker,
# round robin, so on a one-GPU machine both share it).
#
# That machine lacks Optuna and what it needs, so their wheels travel in .gpu/whl like Keras's:
#   here, once per session, after `bash ../shared/gpu/prepare.sh`:   bash benchmarks/gpu_parallel.sh prepare
#   one device call: command "bash .gpu/check.sh; bash benchmarks/gpu_parallel.sh check", carry [".gpu"],
#   timeout_s 540 (the image part of parallel.py takes about two minutes on 2 CPU cores).
# Everything it prints is also in $OUT/gpu-parallel.log.
set -euo pipefail
cd "$(dirname "$0")/.."  # the repository root, here and on the device (a copy of the working tree)

prepare() {
    local pins=() name
    for name in optuna sqlalchemy alembic mako markupsafe colorlog tqdm greenlet typing-extensions pyyaml; do
        pins+=("$(grep -m1 "^$name==" constraints.txt)")  # the versions the suite runs with
    done
    mkdir -p .gpu/whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .gpu/whl "${pins[@]}"
    du -sh .gpu
}

check() {
    local T log sampler
    T=$(mktemp -d)
    log=${OUT:-$T}/gpu-parallel.log
    export PYTHONUNBUFFERED=1 KERAS_BACKEND=torch KERAS_HOME=$T/keras_home
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$T/site" .gpu/whl/*.whl
    export PYTHONPATH=$T/site
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . -e plugins/vision >"$T/install.log" 2>&1 \
        || { tail -5 "$T/install.log"; exit 1; }
    {
        nvidia-smi -L
        python3 -c "import optuna, torch; print('optuna', optuna.__version__, 'cuda', torch.cuda.is_available())"
        (while sleep 1; do nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader; done) >"$T/apps" &
        sampler=$!
        timeout 420 python3 benchmarks/parallel.py --only image --work "$T/bench" || echo "parallel.py exited $?"
        kill "$sampler" 2>/dev/null || true
        echo "== processes that held the GPU during the benchmark: pid, memory in one sample"
        sort -t, -k1,1 -u "$T/apps" || true
    } 2>&1 | tee "$log"
}

case "${1:-}" in
    prepare) prepare ;;
    check) check ;;
    *) echo "usage: bash benchmarks/gpu_parallel.sh prepare|check (see the comment at its top)" >&2; exit 2 ;;
esac
