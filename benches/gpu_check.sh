#!/usr/bin/env bash
# The GPU figures of issue 8 in one prepared run, for a machine with a GPU but no Rust
# toolchain (such as a lent GPU machine). Build here, carry, run there:
#
#   here:   benches/gpu_check.sh --stage        # builds, copies the binaries into .gpu/
#   there:  benches/gpu_check.sh --run "$OUT"   # carry .gpu (and .gl, the Vulkan loader
#                                               # debs: see the device tool's README)
#
# --run writes into the given folder: the adapter (`facemtl info`), the kernel bench with
# the GPU tile class, the step bench with PyTorch on CUDA as the peer (the ratio the issue
# asks for), and the step's per-kernel device times.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
--stage)
    cargo build --release --bins --benches
    rm -rf .gpu && mkdir -p .gpu/peers
    cp target/release/facemtl .gpu/
    for bench in kernels step; do
        # The newest bench executable of that name (cargo names them name-<hash>).
        cp "$(ls -t target/release/deps/$bench-* | grep -v '\.d$' | head -1)" ".gpu/$bench"
    done
    cp benches/peers/*.py .gpu/peers/
    # Without debug info the three fit the device tool's 64 MiB.
    strip .gpu/facemtl .gpu/kernels .gpu/step
    mkdir -p .git/info
    grep -qsx '/.gpu/' .git/info/exclude || echo '/.gpu/' >>.git/info/exclude
    du -sh .gpu
    ;;
--run)
    out=${2:?"--run needs an output folder"}
    mkdir -p "$out"
    for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
    ldconfig
    # The NVIDIA Vulkan driver where the loader does not find it (the device tool's README).
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -z "${VK_DRIVER_FILES:-}" ] && [ -e "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
    export FACEMTL_PEERS_DIR=$PWD/.gpu/peers PYTHONUNBUFFERED=1
    .gpu/facemtl info 2>&1 | tee "$out/info.txt"
    FACEMTL_GEMM_TILES=gpu .gpu/kernels --bench 2>&1 | tee "$out/kernels.txt"
    FACEMTL_BENCH_PEERS=1 FACEMTL_BENCH_PEER_DEVICE=cuda .gpu/step --bench 2>&1 |
        tee "$out/step.txt"
    FACEMTL_PROFILE=1 FACEMTL_BENCH_CASES=small/32,medium/32,paper-small/32,paper/16 .gpu/step --bench 2>&1 |
        tee "$out/profile.txt"
    ;;
*)
    echo "usage: benches/gpu_check.sh --stage | --run OUT_DIR" >&2
    exit 2
    ;;
esac
