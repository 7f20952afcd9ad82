"""A small trainer for test/python/checkpoints.test.ts: nn.Linear on SpindleDataset batches,
checkpointed through `spindle agent` with spindle.ckpt. Prints one JSON line per event on stdout.

Usage: checkpoints_trainer.py --agent ADDR --dataset PATH --dir CKPT_DIR --mode MODE
  --mode train   trains from the epoch's start; after step --save-at saves the model, optimizer and
                 loader cursor (ckpt.save), then keeps training until step --wait-at and waits there
                 (to be killed). Lines: {"step", "keys"}, {"saved", "weights", "committed"}, {"waiting"}.
  --mode resume  loads `latest`, checks nothing itself: prints {"loaded", "weights", "loader_state",
                 "metadata"}, then trains to the epoch's end: {"step", "keys"} ..., {"done"}.
  --mode bad-step  loads a step that is not committed: prints {"error_code", "error"}.
  --mode mount-roundtrip  saves step 1 via --mount (a `spindle mount` of the cluster's root), loads
                 it back: prints {"equal", "shards"}.
  --mode rank-save  saves step 1 as rank RANK of WORLD_SIZE (from the environment), a state holding
                 the rank: prints {"committed", "committer", "missing_ranks"}.
  --mode rank-load  loads step 1 as rank RANK: prints {"rank": the rank in the loaded state}.
"""

import argparse
import json
import os
import time
from typing import Any, Dict, List

import torch
from torch import nn
from torch.utils.data import DataLoader

from spindle import CheckpointClient, SpindleDataset, SpindleError, ckpt
from spindle.loader import LoadedSample

FEATURES = 8
BATCH_SIZE = 4


def emit(record: Dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def model_and_optimizer(seed: int) -> Any:
    torch.manual_seed(seed)
    model = nn.Linear(FEATURES, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def weights(model: nn.Module) -> List[float]:
    return [value for tensor in model.state_dict().values() for value in tensor.flatten().tolist()]


def train_step(model: nn.Module, optimizer: Any, samples: List[LoadedSample]) -> None:
    x = torch.tensor([list(sample.data[:FEATURES]) for sample in samples], dtype=torch.float32) / 255
    y = x.sum(dim=1, keepdim=True)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()


def dataset_of(args: argparse.Namespace) -> SpindleDataset:
    return SpindleDataset(
        args.dataset,
        batch_size=BATCH_SIZE,
        seed=11,
        last_batch="drop",
        agent=args.agent,
        transform=lambda samples: samples,
    )


def train(args: argparse.Namespace) -> None:
    model, optimizer = model_and_optimizer(seed=1)
    dataset = dataset_of(args)
    for step, samples in enumerate(DataLoader(dataset, batch_size=None), start=1):
        train_step(model, optimizer, samples)
        emit({"step": step, "keys": [sample.key for sample in samples]})
        if step == args.save_at:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            result = ckpt.save(
                args.dir,
                step,
                state,
                agent=args.agent,
                save_id="run1",
                loader_state=dataset.state_dict(),
                metadata={"step": step},
            )
            emit({"saved": step, "weights": weights(model), "committed": result.committed})
        if step == args.wait_at:
            emit({"waiting": step})
            time.sleep(3600)  # the test kills this process here


def resume(args: argparse.Namespace) -> None:
    model, optimizer = model_and_optimizer(seed=2)  # other initial weights: loading must replace them
    state, info = ckpt.load(args.dir, agent=args.agent)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    emit({"loaded": info.step, "weights": weights(model), "loader_state": info.loader_state, "metadata": info.metadata})
    dataset = dataset_of(args)
    dataset.load_state_dict(info.loader_state)
    for step, samples in enumerate(DataLoader(dataset, batch_size=None), start=info.step + 1):
        train_step(model, optimizer, samples)
        emit({"step": step, "keys": [sample.key for sample in samples]})
    emit({"done": True})


def bad_step(args: argparse.Namespace) -> None:
    try:
        ckpt.load(args.dir, 999, agent=args.agent)
    except SpindleError as error:
        emit({"error_code": error.code.name, "error": str(error)})
    try:
        ckpt.save(args.dir, -1, {}, agent=args.agent)
    except ValueError as error:
        emit({"value_error": str(error)})


def mount_roundtrip(args: argparse.Namespace) -> None:
    model, _ = model_and_optimizer(seed=3)
    with CheckpointClient(args.agent) as client:
        result = client.save(args.dir, 1, model.state_dict(), via_mount=args.mount, metadata={"via": "mount"})
        state, info = client.load(args.dir, 1)
    equal = all(torch.equal(state[key], value) for key, value in model.state_dict().items())
    emit({"equal": equal, "committed": result.committed, "metadata": info.metadata, "shards": len(info.shards)})


def rank_save(args: argparse.Namespace) -> None:
    rank = int(os.environ["RANK"])
    result = ckpt.save(args.dir, 1, {"rank": torch.tensor([rank])}, agent=args.agent, save_id="ranks")
    emit({"committed": result.committed, "committer": result.committer, "missing_ranks": result.missing_ranks})


def rank_load(args: argparse.Namespace) -> None:
    state, _ = ckpt.load(args.dir, 1, agent=args.agent)
    emit({"rank": int(state["rank"].item())})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--mode", required=True, choices=list(MODES))
    parser.add_argument("--save-at", type=int, default=3)
    parser.add_argument("--wait-at", type=int, default=5)
    parser.add_argument("--mount")
    args = parser.parse_args()
    MODES[args.mode](args)


MODES = {
    "train": train,
    "resume": resume,
    "bad-step": bad_step,
    "mount-roundtrip": mount_roundtrip,
    "rank-save": rank_save,
    "rank-load": rank_load,
}

if __name__ == "__main__":
    main()
