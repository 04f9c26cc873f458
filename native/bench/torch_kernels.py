#!/usr/bin/python3
"""PyTorch reference for scripts/bench-kernels.ts: the same conv shapes, ms per forward / input gradient / filter
gradient, median of --reps runs after 2 warm-ups, on 2 threads (these machines have 2 cores).

    /usr/bin/python3 native/bench/torch_kernels.py [--reps 9] [--batch 32] [--threads 2] [--channels-last]

Shapes are given NHWC like the TF.js benchmark and run NCHW (PyTorch's default) unless --channels-last.
"""
import argparse
import os
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--reps", type=int, default=9)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--channels-last", action="store_true")
args = parser.parse_args()
torch.set_num_threads(args.threads)
B = args.batch

# name, [N, H, W, C_in], k, C_out, stride, pad — the list of scripts/bench-kernels.ts
SHAPES = [
    ("conv 3x3 s1 C8", [B, 32, 32, 8], 3, 8, 1, 1),
    ("conv 3x3 s1 C16", [B, 32, 32, 16], 3, 16, 1, 1),
    ("conv 3x3 s1 C32", [B, 32, 32, 32], 3, 32, 1, 1),
    ("conv 5x5 s1 C16", [B, 32, 32, 16], 5, 16, 1, 2),
    ("conv 3x3 s2 C16", [B, 32, 32, 16], 3, 16, 2, 1),
    ("conv 5x5 s2 C16", [B, 32, 32, 16], 5, 16, 2, 2),
    ("dil3x3 s1 C16 (phases)", [4 * B, 18, 18, 16], 3, 16, 1, 0),
    ("dil5x5 s2 C16 (subsampled)", [B, 20, 20, 16], 5, 16, 1, 0),
    ("conv 1x1 C48->16", [B, 32, 32, 48], 1, 16, 1, 0),
    ("conv 2x2 s2 C16->32", [B, 32, 32, 16], 2, 32, 2, 0),
]


def median_ms(fn, reps):
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}, "
      f"{'channels_last' if args.channels_last else 'NCHW'}; median ms per call")
with torch.no_grad():
    for name, (n, h, w, cin), k, cout, stride, pad in SHAPES:
        fmt = torch.channels_last if args.channels_last else torch.contiguous_format
        x = torch.randn(n, cin, h, w).contiguous(memory_format=fmt)
        weight = torch.randn(cout, cin, k, k).contiguous(memory_format=fmt)
        y = torch.nn.functional.conv2d(x, weight, stride=stride, padding=pad)
        dy = torch.randn_like(y)
        fwd = median_ms(lambda: torch.nn.functional.conv2d(x, weight, stride=stride, padding=pad), args.reps)

        def backward(mask):
            return torch.ops.aten.convolution_backward(dy, x, weight, None, [stride, stride], [pad, pad], [1, 1],
                                                       False, [0, 0], 1, mask)

        dx = median_ms(lambda: backward([True, False, False]), args.reps)
        dw = median_ms(lambda: backward([False, True, False]), args.reps)
        print(f"torch   {name + ' [' + ','.join(map(str, (n, h, w, cin))) + ']':44} fwd {fwd:9.2f}  dx {dx:9.2f}  "
              f"dw {dw:9.2f}  (load {os.getloadavg()[0]:.1f})")
