import { describe, expect, it } from 'vitest';
import { BatchReadResponse, StorageService, UpdateRequest, UpdateType, WriteRequest } from '../proto/index.js';
import {
  StorageServiceFast,
  decodeBatchReadResponse,
  decodeWithData,
  encodeBatchReadResponse,
  encodeWithData,
} from './storage-codec.js';

function bytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function writeRequest(data: Buffer): WriteRequest {
  return {
    tag: { clientId: 'client-1', requestId: 77 },
    chainId: 3,
    chainVersion: 9,
    chunk: { ino: 2 ** 40 + 5, index: 12 },
    type: UpdateType.WRITE,
    offset: 4096,
    data,
    dataCrc32c: 0xdeadbeef,
    chunkSizeBytes: 4 * 2 ** 20,
    channelId: 2,
    seqnum: 1234,
  };
}

describe('storage codec', () => {
  it('encodes Write and Update requests that the generated decoder reads back unchanged', () => {
    for (const length of [0, 10, 16 * 1024, 40_000]) {
      const write = writeRequest(bytes(length, length));
      const viaFast = StorageServiceFast.write.requestSerialize(write);
      expect(WriteRequest.decode(viaFast)).toEqual(WriteRequest.decode(StorageService.write.requestSerialize(write)));
      expect(StorageService.write.requestDeserialize(viaFast)).toEqual(write);

      const update = UpdateRequest.fromPartial({
        chainId: 3,
        chainVersion: 9,
        chunk: write.chunk,
        type: UpdateType.REPLACE,
        offset: 0,
        data: write.data,
        dataCrc32c: 7,
        chunkSizeBytes: write.chunkSizeBytes,
        updateVersion: 4,
        fromTargetId: 1001,
      });
      const encoded = StorageServiceFast.update.requestSerialize(update);
      expect(StorageService.update.requestDeserialize(encoded)).toEqual(update);
    }
  });

  it('decodes what the generated encoder wrote, bytes as a view of the input', () => {
    const write = writeRequest(bytes(30_000, 1));
    const encoded = StorageService.write.requestSerialize(write);
    const decoded = StorageServiceFast.write.requestDeserialize(encoded);
    expect(decoded).toEqual(write);
    expect(decoded.data.buffer).toBe(encoded.buffer);
    // Our own encoding puts the bytes last: the decoder then needs no copy of the other fields either.
    const own = StorageServiceFast.write.requestSerialize(write);
    expect(decodeWithData(WriteRequest, own, 7)).toEqual(write);
  });

  it('round-trips BatchRead responses with several results, holes and errors', () => {
    const response: BatchReadResponse = {
      results: [
        { status: { code: 0, message: '' }, data: bytes(40_000, 2), chunkLength: 4 * 2 ** 20, commitVersion: 3 },
        {
          status: { code: 4001, message: 'chunk 1:2 does not exist' },
          data: Buffer.alloc(0),
          chunkLength: 0,
          commitVersion: 0,
        },
        { status: { code: 0, message: '' }, data: bytes(17, 3), chunkLength: 17, commitVersion: 1 },
      ],
    };
    const fast = encodeBatchReadResponse(response);
    expect(BatchReadResponse.decode(fast)).toEqual(
      BatchReadResponse.decode(StorageService.batchRead.responseSerialize(response)),
    );
    expect(decodeBatchReadResponse(fast)).toEqual(response);
    expect(decodeBatchReadResponse(StorageService.batchRead.responseSerialize(response))).toEqual(response);
    expect(decodeBatchReadResponse(encodeBatchReadResponse({ results: [] }))).toEqual({ results: [] });
  });

  it('writes OK results as the generated encoder does: uint64 beyond 32 bits, optional fields, no data', () => {
    const results = [2 ** 40 + 3, 2 ** 53 - 1, 127, 128, 2 ** 32].map((big, i) => ({
      status: { code: 0, message: '' },
      data: i === 0 ? bytes(4096, 5) : Buffer.alloc(0),
      chunkLength: i === 1 ? 0 : 4 * 2 ** 20,
      commitVersion: big,
      ...(i % 2 === 0 ? { dataCrc32c: 0xffffffff - i } : {}),
      ...(i === 3 ? { bulkLength: 300 } : {}),
    }));
    const response: BatchReadResponse = { results };
    const generated = Buffer.from(StorageService.batchRead.responseSerialize(response));
    expect(BatchReadResponse.decode(encodeBatchReadResponse(response))).toEqual(BatchReadResponse.decode(generated));
    // Without bytes the two encodings are the same bytes.
    const headsOnly: BatchReadResponse = { results: results.slice(1) };
    expect(encodeBatchReadResponse(headsOnly)).toEqual(
      Buffer.from(StorageService.batchRead.responseSerialize(headsOnly)),
    );
  });

  it('leaves malformed input to the generated decoder, which refuses it', () => {
    const encoded = encodeWithData(WriteRequest, writeRequest(bytes(20_000, 4)), 7);
    const cut = encoded.subarray(0, encoded.length - 10);
    expect(() => decodeWithData(WriteRequest, cut, 7)).toThrow();
    expect(() => decodeBatchReadResponse(Buffer.from([0x0a, 0xff, 0xff, 0x01]))).toThrow();
  });
});
