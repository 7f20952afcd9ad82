"""An inference engine's use of spindle.kv for test/python/kvcache.test.ts: KV pages of a prompt as
torch tensors, keyed by chain_keys() over its token blocks, through `spindle agent`'s KvCache
service. Prints one JSON object on stdout: what each step saw (the test compares it whole).

Usage: kvcache_engine.py --agent ADDR
"""

import argparse
import json
import os
from typing import Any, Dict, List

import torch

from spindle import KvClient, KvNamespace, SpindleError
from spindle.kv import chain_keys, tensor_bytes

#: One page: K and V of 16 tokens, 8 heads of 32 dims, bfloat16: 2*16*8*32*2 = 16 KiB.
PAGE_SHAPE = (2, 16, 8, 32)
PAGE_TOKENS = 16


def namespace(**overrides: Any) -> KvNamespace:
    fields: Dict[str, Any] = dict(
        name="py-engine",
        model_id="meta-llama/Llama-3.1-8B",
        kv_dtype="bfloat16",
        layout="vllm-nhd",
        page_tokens=PAGE_TOKENS,
        capacity_bytes=64 * 1024 * 1024,
    )
    fields.update(overrides)
    return KvNamespace(**fields)


def blocks(tokens: List[int]) -> List[List[int]]:
    return [tokens[at : at + PAGE_TOKENS] for at in range(0, len(tokens), PAGE_TOKENS)]


def error_of(call: Any) -> Dict[str, str]:
    try:
        call()
    except SpindleError as error:
        return {"code": error.code.name, "message": str(error)}
    except (TypeError, ValueError) as error:
        return {"code": type(error).__name__, "message": str(error)}
    return {"code": "none", "message": "the call succeeded"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", required=True)
    args = parser.parse_args()
    out: Dict[str, Any] = {}
    torch.manual_seed(12)
    prompt = list(range(1000, 1000 + 6 * PAGE_TOKENS))
    keys = chain_keys(blocks(prompt))
    # A second prompt sharing the first 3 pages (a system prompt), then its own question.
    other_keys = chain_keys(blocks(prompt[: 3 * PAGE_TOKENS] + list(range(7, 7 + 2 * PAGE_TOKENS))))
    out["shared_keys"] = sum(1 for a, b in zip(keys, other_keys) if a == b)
    pages = [torch.randn(PAGE_SHAPE, dtype=torch.bfloat16) for _ in keys]

    with KvClient(args.agent, namespace=namespace()) as kv:
        out["put"] = [r.status for r in kv.batch_put(keys, [tensor_bytes(p) for p in pages])]
        out["match"] = kv.match_prefix(keys + [os.urandom(32)])
        out["match_other"] = kv.match_prefix(other_keys)
        got = [kv.get_tensor(k, torch.bfloat16, PAGE_SHAPE, root=keys[0]) for k in keys]
        out["get_equal"] = [bool(torch.equal(g, p)) for g, p in zip(got, pages)]
        into = torch.zeros(PAGE_SHAPE, dtype=torch.bfloat16)
        out["get_into"] = [kv.get_into(keys[5], into, root=keys[0]), bool(torch.equal(into, pages[5]))]
        values = kv.batch_get(keys)
        out["batch_get_equal"] = [v == tensor_bytes(p) for v, p in zip(values, pages)]
        out["miss"] = [kv.get(os.urandom(32)), kv.exists(os.urandom(32))]
        out["exists"] = kv.batch_exists(keys[:3])

        # Removing page 4 takes page 5 with it: the match stops at 4; put back under the root.
        removed = kv.remove(keys[4], root=keys[0])
        out["removed"] = [removed.status, removed.removed_pages]
        out["match_after_remove"] = kv.match_prefix(keys)
        out["get_removed"] = kv.get(keys[5], root=keys[0])
        suffix = kv.batch_put(keys[4:], [tensor_bytes(p) for p in pages[4:]], keys[3], root=keys[0])
        out["put_suffix"] = [r.status for r in suffix]
        out["put_again"] = kv.put_tensor(keys[0], pages[0]).status
        out["match_after_put"] = kv.match_prefix(keys, lease_ms=60_000)
        out["remove_leased"] = kv.remove(keys[0]).status

        # Bad input: each a clear error, nothing stored.
        bad_key = os.urandom(31)
        out["bad_key"] = error_of(lambda: kv.put(bad_key, tensor_bytes(pages[0])))
        refused = os.urandom(32)
        out["small_value"] = error_of(lambda: kv.put(refused, b"x" * 100))
        out["no_root"] = error_of(lambda: kv.put(os.urandom(32), tensor_bytes(pages[0]), keys[5]))
        out["str_key"] = error_of(lambda: kv.get("not bytes"))  # type: ignore[arg-type]
        out["refused_stored"] = kv.exists(refused)
    # 5 pages of 24 MiB: the agent's reply stops after 96 MiB, batch_get asks again for the last.
    with KvClient(args.agent, namespace=namespace(name="py-large", capacity_bytes=256 << 20)) as large:
        big_keys = chain_keys([[i] * PAGE_TOKENS for i in range(5)], prefix=b"large")
        big_values = [os.urandom(24 << 20) for _ in big_keys]
        out["large_put"] = [r.status for r in large.batch_put(big_keys, big_values)]
        out["large_get_equal"] = [a == b for a, b in zip(large.batch_get(big_keys), big_values)]
    with KvClient(args.agent, namespace=namespace(kv_dtype="float64", tp_rank=1)) as bad:
        out["bad_namespace"] = error_of(lambda: bad.get(keys[0]))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
