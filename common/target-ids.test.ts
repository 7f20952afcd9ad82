// The target id encoding is a contract between processes (and what routing and node state keep):
// these values pin it.
import { describe, expect, it } from 'vitest';
import { TARGETS_PER_NODE_MAX } from './constants.js';
import { NODE_ID_MAX, targetIdOf } from './target-ids.js';

describe('target ids', () => {
  it('are node id × 1000 + local index', () => {
    expect(TARGETS_PER_NODE_MAX).toBe(1000);
    expect(targetIdOf(1, 0)).toBe(1000);
    expect(targetIdOf(3, 1)).toBe(3001);
    expect(targetIdOf(42, 999)).toBe(42_999);
  });

  it('fit in a uint32 up to the largest node id, and only up to it', () => {
    expect(NODE_ID_MAX).toBe(4_294_966);
    expect(targetIdOf(NODE_ID_MAX, TARGETS_PER_NODE_MAX - 1)).toBe(4_294_966_999);
    expect(targetIdOf(NODE_ID_MAX, TARGETS_PER_NODE_MAX - 1)).toBeLessThanOrEqual(0xffff_ffff);
    expect(targetIdOf(NODE_ID_MAX + 1, TARGETS_PER_NODE_MAX - 1)).toBeGreaterThan(0xffff_ffff);
  });
});
