"""One rank of a trainer for test/python/loader.test.ts: iterates
DataLoader(SpindleDataset(...), batch_size=None) through `spindle agent` and writes what it read.

Usage: read_epoch.py --agent ADDR --dataset PATH --batch-size N --out FILE [--seed S] [--epoch E]
       [--dist tcp://127.0.0.1:PORT --rank R --world-size W]   (torch.distributed, gloo)
       [--stop-after K --state-out FILE] [--resume FILE] [--num-workers N]
Without --dist the rank and world size come from RANK / WORLD_SIZE (or 0 / 1).
The output is JSON: {"rank", "world_size", "len", "steps": [[base64 of each sample], ...], "state"}.
"""

import argparse
import base64
import json
import sys

import torch.distributed as dist
from torch.utils.data import DataLoader

from spindle import SpindleDataset


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epoch", type=int, default=0)
    parser.add_argument("--dist")
    parser.add_argument("--rank", type=int)
    parser.add_argument("--world-size", type=int)
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--state-out")
    parser.add_argument("--resume")
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args()

    if args.dist:
        dist.init_process_group("gloo", init_method=args.dist, rank=args.rank, world_size=args.world_size)
    dataset = SpindleDataset(
        args.dataset,
        batch_size=args.batch_size,
        seed=args.seed,
        epoch=args.epoch,
        last_batch="drop",
        prefetch_bytes=64 * 1024,
        agent=args.agent,
    )
    if args.resume:
        with open(args.resume) as f:
            dataset.load_state_dict(json.load(f))
    loader = DataLoader(dataset, batch_size=None, num_workers=args.num_workers)
    steps = []
    length = len(loader)
    for batch in loader:
        assert isinstance(batch, list) and all(isinstance(sample, bytes) for sample in batch), type(batch)
        steps.append([base64.b64encode(sample).decode() for sample in batch])
        if args.stop_after is not None and len(steps) == args.stop_after:
            break
    state = dataset.state_dict()
    json.dumps(state)  # a state is JSON-able
    if args.state_out:
        with open(args.state_out, "w") as f:
            json.dump(state, f)
    rank = dist.get_rank() if args.dist else None
    world_size = dist.get_world_size() if args.dist else None
    with open(args.out, "w") as f:
        json.dump({"rank": rank, "world_size": world_size, "len": length, "steps": steps, "state": state}, f)
    if args.dist:
        dist.barrier()
        dist.destroy_process_group()
    dataset.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
