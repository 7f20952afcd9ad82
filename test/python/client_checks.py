"""Checks of the spindle package that need no agent, run by test/python/client.test.ts: bad
arguments are refused before any call with a message naming the argument, a missing agent is
UNAVAILABLE saying how to start one, and the placement follows RANK / WORLD_SIZE. Prints "ok"."""

import os

import grpc

from spindle import LoaderClient, SpindleDataset, SpindleError
from spindle.loader import _placement


def refused(fn, *needles):
    try:
        fn()
    except ValueError as error:
        for needle in needles:
            assert needle in str(error), (needle, str(error))
        return
    raise AssertionError(f"accepted: {needles}")


client = LoaderClient("127.0.0.1:1")
refused(lambda: list(client.stream("/d", batch_size=0)), "batch_size must be an integer from 1")
refused(
    lambda: list(client.stream("/d", batch_size=4, seed=2**53)), "seed must be an integer from 0 to 9007199254740991"
)
refused(lambda: list(client.stream("/d", batch_size=4, last_batch="keep")), "last_batch must be 'drop' or 'pad'")
refused(lambda: list(client.stream("/d")), "a new epoch needs dataset= and batch_size=")
refused(lambda: list(client.stream("/d", batch_size=4, state={})), "either state=")
refused(lambda: list(client.stream(state={"dataset": "/d"})), "the loader state lacks dataset_id")
refused(lambda: list(client.stream("/d", batch_size=4, rank=-1)), "rank must be")

try:
    client.describe("/d", timeout=5)
    raise AssertionError("describe without an agent succeeded")
except SpindleError as error:
    assert error.code == grpc.StatusCode.UNAVAILABLE, error.code
    assert "cannot reach the spindle agent at 127.0.0.1:1" in str(error), str(error)
    assert "spindle agent --meta" in str(error), str(error)
client.close()

os.environ.pop("SPINDLE_AGENT", None)
refused(lambda: SpindleDataset("/d", batch_size=4), "no agent address", "SPINDLE_AGENT")
refused(lambda: SpindleDataset("/d", batch_size=4, agent="127.0.0.1:1", last_batch="all"), "last_batch")
dataset = SpindleDataset("/d", batch_size=4, agent="127.0.0.1:1")
refused(lambda: dataset.load_state_dict({"dataset": "/d"}), "lacks")
state = {"dataset": "/other", "dataset_id": "ab", "dataset_size": 10, "seed": 1, "epoch": 0,
         "batch_size": 4, "last_batch": "pad", "next_batch": 1}
refused(lambda: dataset.load_state_dict(state), "the state is for dataset '/other'")

for env, expected in [({}, (0, 1)), ({"RANK": "3", "WORLD_SIZE": "4"}, (3, 4))]:
    os.environ.pop("RANK", None)
    os.environ.pop("WORLD_SIZE", None)
    os.environ.update(env)
    assert _placement() == expected, (_placement(), expected)
os.environ.update({"RANK": "4", "WORLD_SIZE": "4"})
refused(_placement, "RANK must be in [0, WORLD_SIZE)")
print("ok")
