"""A trainer that stops taking batches, for test/python/loader.test.ts: takes the first batch of a
stream, waits two seconds without reading, then leaves the stream (cancelling it) and prints
the index of the batch it took.

Usage: stall_stream.py --agent ADDR --dataset PATH --prefetch-bytes N
"""

import argparse
import time

from spindle import LoaderClient

parser = argparse.ArgumentParser()
parser.add_argument("--agent", required=True)
parser.add_argument("--dataset", required=True)
parser.add_argument("--prefetch-bytes", type=int, required=True)
args = parser.parse_args()

with LoaderClient(args.agent) as client:
    batches = client.stream(args.dataset, batch_size=1, prefetch_bytes=args.prefetch_bytes)
    first = next(batches)
    time.sleep(2)
    batches.close()
    print(first.batch_index)
