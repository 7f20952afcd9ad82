"""Calls a Spindle cluster from Python with and without a bearer token (test/auth/python.test.ts).

argv: META_ADDRESS STORAGE_ADDRESS AGENT_ADDRESS TOKEN. Prints one line per check, `name code`:
grpcio straight to meta and a storage node (raw bytes: an empty StatFs / BatchRead request is
valid protobuf), and the spindle package's LoaderClient to a TCP agent (describe of a missing
dataset: NOT_FOUND once past the credential check)."""

import sys

import grpc

sys.path.insert(0, "python")
from spindle import LoaderClient, SpindleError  # noqa: E402


def raw_call(address: str, method: str, token: str | None) -> str:
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(b"", metadata=metadata, timeout=20)
            return "OK"
        except grpc.RpcError as error:
            return error.code().name  # type: ignore[attr-defined, no-any-return]


def loader_call(address: str, token: str | None) -> str:
    with LoaderClient(address, token=token) as client:
        try:
            client.describe("/no-such-dataset")
            return "OK"
        except SpindleError as error:
            return error.code.name


def main() -> None:
    meta, storage, agent, token = sys.argv[1:5]
    print("meta-without", raw_call(meta, "/spindle.Meta/StatFs", None))
    print("meta-with", raw_call(meta, "/spindle.Meta/StatFs", token))
    print("storage-without", raw_call(storage, "/spindle.Storage/BatchRead", None))
    print("storage-with", raw_call(storage, "/spindle.Storage/BatchRead", token))
    print("agent-without", loader_call(agent, ""))
    print("agent-with", loader_call(agent, token))


if __name__ == "__main__":
    main()
