// Copy-saving (de)serializers for the Storage messages that carry chunk bytes (WriteRequest,
// UpdateRequest, BatchReadResponse), and the Storage service definition and client that use them.
// The bytes on the wire are the same protobuf messages proto/storage.proto defines: any decoder
// reads them, and these decoders read what any encoder writes.
//
// Why: the generated code encodes through a growing buffer (several zero-filled allocations up
// to twice the message), copies the result once more (`finish`) and again (`Buffer.from`), and
// its decoder copies every `bytes` field. For a 4 MiB chunk that is ~30 MiB of short-lived
// ArrayBuffers per hop; V8 starts a major GC for every ~64 MiB of external memory allocated, and
// those GCs were the largest single CPU cost of a storage node on the write path.
//
// How: encoding writes every field but the bytes through the generated encoder, then appends the
// bytes field last (protobuf fields may come in any order) into one buffer of the exact size.
// Decoding finds the bytes field with a scan of the top-level tags, decodes the rest with the
// generated decoder and returns the bytes as a view of the received buffer (grpc-js hands each
// message its own buffer, which nothing else writes to). Anything unexpected (a repeated bytes
// field, an unknown wire type) falls back to the generated decoder, which also reports malformed
// input.
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import {
  BatchReadResponse,
  ReadResult,
  type StorageClient,
  StorageService,
  UpdateRequest,
  WriteRequest,
  type MessageFns,
} from '../proto/index.js';

/** Field numbers of the `bytes` fields (proto/storage.proto). */
const WRITE_REQUEST_DATA_FIELD = 7;
const UPDATE_REQUEST_DATA_FIELD = 6;
const READ_RESULT_DATA_FIELD = 2;
const BATCH_READ_RESPONSE_RESULTS_FIELD = 1;
/** Below this many bytes the generated encoder's copies cost less than a second encode pass. */
const BYTES_APPEND_MIN = 16 * 1024;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const EMPTY = Buffer.alloc(0);

function varintSize(value: number): number {
  let size = 1;
  for (let v = value >>> 0; v >= 0x80; v >>>= 7) size++;
  return size;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  let v = value >>> 0;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function lengthDelimitedTag(field: number): number {
  return (field << 3) | WIRE_LENGTH_DELIMITED;
}

/** Size of field `field` holding `length` bytes, tag and length prefix included. */
function bytesFieldSize(field: number, length: number): number {
  return varintSize(lengthDelimitedTag(field)) + varintSize(length) + length;
}

/** Writes field `field` with `bytes` at `at`; returns the end. */
function writeBytesField(out: Buffer, at: number, field: number, bytes: Uint8Array): number {
  let pos = writeVarint(out, at, lengthDelimitedTag(field));
  pos = writeVarint(out, pos, bytes.length);
  out.set(bytes, pos);
  return pos + bytes.length;
}

/** A message's encoding without its `data` field (which the caller appends). */
function encodeWithoutData<T extends { data: Buffer }>(fns: MessageFns<T>, message: T): Uint8Array {
  return fns.encode({ ...message, data: EMPTY }).finish();
}

/** Encodes a message whose `data` field is `field`, the bytes written last and copied once. */
export function encodeWithData<T extends { data: Buffer }>(fns: MessageFns<T>, message: T, field: number): Buffer {
  const data = message.data ?? EMPTY;
  if (data.length < BYTES_APPEND_MIN) return asBuffer(fns.encode(message).finish());
  const head = encodeWithoutData(fns, message);
  const out = Buffer.allocUnsafe(head.length + bytesFieldSize(field, data.length));
  out.set(head, 0);
  writeBytesField(out, head.length, field, data);
  return out;
}

interface FieldSpan {
  field: number;
  wireType: number;
  /** Where the field starts (its tag). */
  start: number;
  /** Where a length-delimited field's payload starts. */
  payloadStart: number;
  end: number;
}

function readVarint(input: Uint8Array, at: number): { value: number; end: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let pos = at; pos < input.length && shift < 35; pos++, shift += 7) {
    const byte = input[pos]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, end: pos + 1 };
  }
  return undefined;
}

/** The top-level fields of a message, or undefined when it does not parse (the caller falls back). */
function scanFields(input: Uint8Array): FieldSpan[] | undefined {
  const spans: FieldSpan[] = [];
  let pos = 0;
  while (pos < input.length) {
    const start = pos;
    const tag = readVarint(input, pos);
    if (tag === undefined) return undefined;
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value & 7;
    pos = tag.end;
    let payloadStart = pos;
    switch (wireType) {
      case WIRE_VARINT: {
        const skipped = readVarint(input, pos);
        if (skipped === undefined) return undefined;
        pos = skipped.end;
        break;
      }
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_FIXED32:
        pos += 4;
        break;
      case WIRE_LENGTH_DELIMITED: {
        const length = readVarint(input, pos);
        if (length === undefined) return undefined;
        payloadStart = length.end;
        pos = length.end + length.value;
        break;
      }
      default:
        return undefined;
    }
    if (pos > input.length) return undefined;
    spans.push({ field, wireType, start, payloadStart, end: pos });
  }
  return spans;
}

/**
 * Decodes a message whose `data` field is `field`, returning the bytes as a view of `input`
 * instead of a copy.
 */
export function decodeWithData<T extends { data: Buffer }>(fns: MessageFns<T>, input: Uint8Array, field: number): T {
  const spans = scanFields(input);
  const dataSpans = spans?.filter((span) => span.field === field && span.wireType === WIRE_LENGTH_DELIMITED) ?? [];
  if (spans === undefined || dataSpans.length !== 1) return fns.decode(input);
  const span = dataSpans[0]!;
  const source = asBuffer(input);
  const rest =
    span.end === input.length
      ? source.subarray(0, span.start)
      : Buffer.concat([source.subarray(0, span.start), source.subarray(span.end)]);
  const message = fns.decode(rest);
  message.data = source.subarray(span.payloadStart, span.end);
  return message;
}

/** Size of a varint holding a non-negative safe integer (uint64 fields carried as numbers). */
function varint64Size(value: number): number {
  let size = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) size++;
  return size;
}

function writeVarint64(out: Buffer, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  return at;
}

/** ReadResult's varint fields after `data`, by field number (tag = field << 3, wire type varint). */
const OK_RESULT_VARINT_FIELDS = [
  [3, (r: ReadResult) => r.chunkLength],
  [4, (r: ReadResult) => r.commitVersion],
  [5, (r: ReadResult) => r.bulkLength],
  [6, (r: ReadResult) => r.dataCrc32c],
] as const;

/**
 * Size of an OK result's fields but `data`, as writeOkResultHead writes them (the generated
 * encoder's bytes: an empty `status`, then each varint field that is set); undefined when the
 * result is not a plain OK, which the generated encoder then writes. Why: a 4 KiB read's answer is
 * mostly this head, and the generated encoder's growing writer was ~5 % of a storage node's CPU.
 */
function okResultHeadSize(result: ReadResult): number | undefined {
  if (result.status === undefined || result.status.code !== 0 || result.status.message !== '') return undefined;
  let size = 2;
  for (const [, field] of OK_RESULT_VARINT_FIELDS) {
    const value = field(result);
    if (value !== undefined && value !== 0) size += 1 + varint64Size(value);
  }
  return size;
}

function writeOkResultHead(out: Buffer, at: number, result: ReadResult): number {
  out[at++] = lengthDelimitedTag(1);
  out[at++] = 0;
  for (const [number, field] of OK_RESULT_VARINT_FIELDS) {
    const value = field(result);
    if (value === undefined || value === 0) continue;
    out[at++] = (number << 3) | WIRE_VARINT;
    at = writeVarint64(out, at, value);
  }
  return at;
}

/** BatchReadResponse with each result's bytes copied once, straight into the message. */
export function encodeBatchReadResponse(message: BatchReadResponse): Buffer {
  const parts = message.results.map((result) => {
    const data = result.data ?? EMPTY;
    const okHeadBytes = okResultHeadSize(result);
    const head = okHeadBytes === undefined ? encodeWithoutData(ReadResult, result) : undefined;
    const headBytes = okHeadBytes ?? head!.length;
    const size = headBytes + (data.length > 0 ? bytesFieldSize(READ_RESULT_DATA_FIELD, data.length) : 0);
    return { result, head, data, size };
  });
  let total = 0;
  for (const part of parts) total += bytesFieldSize(BATCH_READ_RESPONSE_RESULTS_FIELD, part.size);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const part of parts) {
    pos = writeVarint(out, pos, lengthDelimitedTag(BATCH_READ_RESPONSE_RESULTS_FIELD));
    pos = writeVarint(out, pos, part.size);
    if (part.head === undefined) {
      pos = writeOkResultHead(out, pos, part.result);
    } else {
      out.set(part.head, pos);
      pos += part.head.length;
    }
    if (part.data.length > 0) pos = writeBytesField(out, pos, READ_RESULT_DATA_FIELD, part.data);
  }
  return out;
}

/** BatchReadResponse whose results' bytes are views of `input`. */
export function decodeBatchReadResponse(input: Uint8Array): BatchReadResponse {
  const spans = scanFields(input);
  if (
    spans === undefined ||
    spans.some((span) => span.field !== BATCH_READ_RESPONSE_RESULTS_FIELD || span.wireType !== WIRE_LENGTH_DELIMITED)
  ) {
    return BatchReadResponse.decode(input);
  }
  const source = asBuffer(input);
  return {
    results: spans.map((span) =>
      decodeWithData(ReadResult, source.subarray(span.payloadStart, span.end), READ_RESULT_DATA_FIELD),
    ),
  };
}

/** StorageService with the copy-saving codecs on the methods that carry chunk bytes. */
export const StorageServiceFast: typeof StorageService = {
  ...StorageService,
  write: {
    ...StorageService.write,
    requestSerialize: (value: WriteRequest): Buffer => encodeWithData(WriteRequest, value, WRITE_REQUEST_DATA_FIELD),
    requestDeserialize: (value: Buffer): WriteRequest => decodeWithData(WriteRequest, value, WRITE_REQUEST_DATA_FIELD),
  },
  update: {
    ...StorageService.update,
    requestSerialize: (value: UpdateRequest): Buffer => encodeWithData(UpdateRequest, value, UPDATE_REQUEST_DATA_FIELD),
    requestDeserialize: (value: Buffer): UpdateRequest =>
      decodeWithData(UpdateRequest, value, UPDATE_REQUEST_DATA_FIELD),
  },
  batchRead: {
    ...StorageService.batchRead,
    responseSerialize: (value: BatchReadResponse): Buffer => encodeBatchReadResponse(value),
    responseDeserialize: (value: Buffer): BatchReadResponse => decodeBatchReadResponse(value),
  },
};

/** A Storage client (same interface as the generated StorageClient) using StorageServiceFast. */
export const StorageClientFast = makeGenericClientConstructor(
  StorageServiceFast,
  'spindle.Storage',
) as unknown as typeof StorageClient;
