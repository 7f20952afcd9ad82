#!/usr/bin/env python3
# The PyTorch baseline of `spindle bench loader` (bench/loader.ts): what users do today — one file
# per sample on a `spindle mount`, read by a map-style Dataset whose __getitem__ opens and reads one
# file, through torch.utils.data.DataLoader(shuffle=True). One epoch per num_workers value given.
#
# The tree is the one bench/loader-tasks.ts writes: sample i is ROOT/d{i//1000:04}/s{i:07}.bin and
# holds its index in its first 4 bytes (little-endian), which the main process checks for every
# sample, with every index of the epoch seen exactly once.
#
# Usage: torch-mount-loader.py --root DIR --count N --sample-bytes B --batch-size 256 --workers 0,2,4
#        [--seed 1]
# Prints one JSON line per num_workers value on stdout:
#   {"workers": 2, "samples": …, "bytes": …, "seconds": …, "batches": …, "p50Ms": …, "p99Ms": …}
# `seconds` runs from creating the epoch's iterator (worker start-up included, as each epoch of a
# DataLoader without persistent_workers pays it) to its last batch; p50/p99 are nearest-rank
# percentiles of the time each next() waited. Errors: a message on stderr and exit 1.
import argparse
import json
import math
import os
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset

FILES_PER_DIR = 1000


def file_path(i: int) -> str:
    return f"d{i // FILES_PER_DIR:04d}/s{i:07d}.bin"


class FilePerSample(Dataset):
    """Sample i is the bytes of its own file: one open and one read per __getitem__."""

    def __init__(self, root: str, count: int):
        self.root = root
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple:
        with open(os.path.join(self.root, file_path(i)), "rb", buffering=0) as f:
            return i, f.read()


def keep_list(batch: list) -> list:
    """The samples as they are (no tensor stacking): the baseline measures reading, as the loader row does."""
    return batch


def percentile(sorted_values: list, p: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def epoch(dataset: FilePerSample, args: argparse.Namespace, workers: int) -> dict:
    generator = torch.Generator()
    generator.manual_seed(args.seed)
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=workers,
        collate_fn=keep_list,
        generator=generator,
        drop_last=True,
    )
    seen = bytearray(dataset.count)
    waits = []
    samples = 0
    nbytes = 0
    t0 = time.perf_counter()
    it = iter(loader)
    while True:
        t = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            break
        waits.append((time.perf_counter() - t) * 1000)
        for index, data in batch:
            if seen[index]:
                raise RuntimeError(f"sample {index} was handed out twice in one epoch")
            seen[index] = 1
            if len(data) != args.sample_bytes or int.from_bytes(data[:4], "little") != index:
                raise RuntimeError(f"sample {index}: wrong bytes ({len(data)} bytes)")
            nbytes += len(data)
        samples += len(batch)
    seconds = time.perf_counter() - t0
    expected = dataset.count // args.batch_size * args.batch_size
    if samples != expected:
        raise RuntimeError(f"the epoch handed out {samples} samples, expected {expected}")
    waits.sort()
    return {
        "workers": workers,
        "samples": samples,
        "bytes": nbytes,
        "seconds": seconds,
        "batches": len(waits),
        "p50Ms": percentile(waits, 50),
        "p99Ms": percentile(waits, 99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="torch-mount-loader.py")
    parser.add_argument("--root", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--sample-bytes", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--workers", default="0")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    dataset = FilePerSample(args.root, args.count)
    for workers in [int(w) for w in args.workers.split(",")]:
        print(json.dumps(epoch(dataset, args, workers)), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as err:  # noqa: BLE001 - one clear line for the bench, whatever failed
        print(f"torch-mount-loader: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)
