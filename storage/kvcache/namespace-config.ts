// A KV-cache namespace's typed configuration: what its pages hold (model, dtype, layout, tokens per
// page, tensor-parallel slice) and how it is kept (replicas, capacity per target).
//
// Guarantees: validateNamespaceConfig lists every bad field in one INVALID_ARGUMENT error. The
// fingerprint covers exactly the fields that decide what a page's bytes mean, so two writers with
// the same fingerprint can share pages, and a writer of another configuration is told so instead
// of reading pages it would misinterpret. Replicas and capacity are not in it: they change how
// pages are kept, not what they mean.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { kvNamespaceFingerprint } from '../../common/kv-namespace-fingerprint.js';
import { PAGE_SIZE_MIN_BYTES } from './constants.js';

const KV_DTYPES = ['float16', 'bfloat16', 'float32', 'float8_e4m3', 'float8_e5m2', 'int8'] as const;
type KvDtype = (typeof KV_DTYPES)[number];

export interface KvNamespaceConfig {
  /** The namespace's name: 1..128 of [A-Za-z0-9._-]. */
  readonly name: string;
  /** The model whose attention KV the pages hold, e.g. 'meta-llama/Llama-3.1-8B'. */
  readonly modelId: string;
  readonly kvDtype: KvDtype;
  /** The engine's page layout, e.g. 'vllm-nhd' (opaque to Spindle, compared for equality). */
  readonly layout: string;
  /** Tokens per page (block size of the engine). */
  readonly pageTokens: number;
  /** This namespace holds the slice of rank tpRank of tpSize tensor-parallel ranks. */
  readonly tpRank: number;
  readonly tpSize: number;
  /** Copies of each page (the chain length it is placed on). */
  readonly replicas: number;
  /** Bytes of pages this namespace may hold on one storage target. */
  readonly capacityBytes: number;
}

export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
const LAYOUT_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MODEL_ID_LENGTH_MAX = 256;
const PAGE_TOKENS_MAX = 65_536;
const TP_SIZE_MAX = 1024;
const REPLICAS_MAX = 16;

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

function configProblems(config: KvNamespaceConfig): string[] {
  const problems: string[] = [];
  const c = config as unknown as Record<string, unknown>;
  if (typeof c.name !== 'string' || !NAME_PATTERN.test(c.name)) {
    problems.push(`name must be 1..128 of [A-Za-z0-9._-], got ${JSON.stringify(c.name)}`);
  }
  if (typeof c.modelId !== 'string' || c.modelId.length === 0 || c.modelId.length > MODEL_ID_LENGTH_MAX) {
    problems.push(`modelId must be a non-empty string of at most ${MODEL_ID_LENGTH_MAX} characters`);
  }
  if (!KV_DTYPES.includes(c.kvDtype as KvDtype)) {
    problems.push(`kvDtype must be one of ${KV_DTYPES.join(', ')}, got ${JSON.stringify(c.kvDtype)}`);
  }
  if (typeof c.layout !== 'string' || !LAYOUT_PATTERN.test(c.layout)) {
    problems.push(`layout must be 1..64 of [A-Za-z0-9._:-], got ${JSON.stringify(c.layout)}`);
  }
  if (!isIntegerIn(c.pageTokens, 1, PAGE_TOKENS_MAX)) {
    problems.push(`pageTokens must be an integer in 1..${PAGE_TOKENS_MAX}, got ${c.pageTokens}`);
  }
  if (!isIntegerIn(c.tpSize, 1, TP_SIZE_MAX)) {
    problems.push(`tpSize must be an integer in 1..${TP_SIZE_MAX}, got ${c.tpSize}`);
  } else if (!isIntegerIn(c.tpRank, 0, c.tpSize - 1)) {
    problems.push(`tpRank must be an integer in 0..${c.tpSize - 1} (tpSize ${c.tpSize}), got ${c.tpRank}`);
  }
  if (!isIntegerIn(c.replicas, 1, REPLICAS_MAX)) {
    problems.push(`replicas must be an integer in 1..${REPLICAS_MAX}, got ${c.replicas}`);
  }
  if (!isIntegerIn(c.capacityBytes, PAGE_SIZE_MIN_BYTES, Number.MAX_SAFE_INTEGER)) {
    problems.push(
      `capacityBytes must be an integer >= ${PAGE_SIZE_MIN_BYTES} (one smallest page), got ${c.capacityBytes}`,
    );
  }
  return problems;
}

/** Throws INVALID_ARGUMENT naming every bad field; returns the config otherwise. */
export function validateNamespaceConfig(config: KvNamespaceConfig): KvNamespaceConfig {
  const problems = configProblems(config);
  if (problems.length > 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `bad KV-cache namespace config: ${problems.join('; ')}`);
  }
  return config;
}

/**
 * 32 hex digits of SHA-256 over the fields that give pages their meaning, versioned so a change of
 * this definition cannot match an old fingerprint by accident.
 */
export function namespaceFingerprint(config: KvNamespaceConfig): string {
  return kvNamespaceFingerprint(config);
}

/** One line naming the fields of the fingerprint, for error messages. */
export function describeNamespaceMeaning(config: KvNamespaceConfig): string {
  return (
    `modelId=${config.modelId} kvDtype=${config.kvDtype} layout=${config.layout} ` +
    `pageTokens=${config.pageTokens} tp=${config.tpRank}/${config.tpSize}`
  );
}
