#!/usr/bin/env python3
"""The peer of `cargo bench --bench kernels`' matmul rows: OpenBLAS (through numpy) float32
matrix products, median of timed repeats, GFLOP/s counting 2 flops per multiply-add.

Prints one line per size: `peer sgemm <n> <median ms> <GFLOP/s>`.

    python3 benches/peers/numpy_sgemm.py [--sizes 256,512,1024] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.sizes.split(",")):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        a @ b
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        s = statistics.median(times)
        print(f"peer sgemm {n} {s * 1e3:.2f} {2 * n**3 / s / 1e9:.2f}", flush=True)


if __name__ == "__main__":
    main()
