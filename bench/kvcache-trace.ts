// The kvcache bench's trace (bench/kvcache.ts, trace mode): multi-turn conversations under shared,
// Zipf-popular system prompts, as an inference cluster's KV cache sees them. Pure and seeded: the
// same plan always gives the same requests, so Spindle and Redis replay the same trace.
//
// A conversation picks its system prompt by Zipf popularity (rank r weighs 1/(r+1)^s). Turn t's
// prompt is the system prompt's pages, then the conversation's pages of turns 0..t (each turn adds
// pagesPerTurn: the previous answer and the new question), all one hash chain rooted at the system
// prompt's first key. `activeConversations` run interleaved, as many users at once do; a finished
// one is replaced by the next. The working set is every distinct page the trace touches.
import { createHash } from 'node:crypto';
import { keyChain, type TracePlan } from './kvcache-tasks.js';

export interface TraceRequest {
  conversation: number;
  system: number;
  turn: number;
  /** Pages of the prompt: the system prompt's, then the conversation's so far. */
  pages: number;
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The requests of the trace, in order. */
export function traceRequests(plan: TracePlan): TraceRequest[] {
  const random = seededRandom(plan.seed);
  const weights = Array.from({ length: plan.systemPrompts }, (_, r) => 1 / (r + 1) ** plan.zipfExponent);
  const total = weights.reduce((a, b) => a + b, 0);
  const pickSystem = () => {
    let x = random() * total;
    for (let r = 0; r < weights.length; r++) {
      x -= weights[r]!;
      if (x < 0) return r;
    }
    return weights.length - 1;
  };
  const systems = Array.from({ length: plan.conversations }, pickSystem);
  const requests: TraceRequest[] = [];
  const active: Array<{ conversation: number; turn: number }> = [];
  let started = 0;
  while (started < plan.conversations || active.length > 0) {
    while (active.length < plan.activeConversations && started < plan.conversations)
      active.push({ conversation: started++, turn: 0 });
    const at = Math.floor(random() * active.length);
    const c = active[at]!;
    requests.push({
      conversation: c.conversation,
      system: systems[c.conversation]!,
      turn: c.turn,
      pages: plan.systemPages + (c.turn + 1) * plan.pagesPerTurn,
    });
    if (++c.turn === plan.turns) active.splice(at, 1);
  }
  return requests;
}

/** Distinct pages of the trace (used system prompts' pages plus every conversation's). */
export function workingSetPages(plan: TracePlan, requests: readonly TraceRequest[]): number {
  const systems = new Set(requests.map((r) => r.system));
  return systems.size * plan.systemPages + plan.conversations * plan.turns * plan.pagesPerTurn;
}

/** Builds and caches the hash chains of the trace's prompts. */
export class TraceKeys {
  private readonly systems = new Map<number, Buffer[]>();
  private readonly conversations = new Map<number, Buffer[]>();

  constructor(
    private readonly plan: TracePlan,
    private readonly runId: string,
  ) {}

  /** The keys of a request's prompt: its system prompt's chain, continued by its conversation's. */
  keys(request: TraceRequest): Buffer[] {
    let system = this.systems.get(request.system);
    if (system === undefined) {
      system = keyChain(`${this.runId}/trace/system/${request.system}`, this.plan.systemPages);
      this.systems.set(request.system, system);
    }
    let own = this.conversations.get(request.conversation);
    if (own === undefined) {
      own = [];
      let parent = system[system.length - 1]!;
      const tag = `${this.runId}/trace/conversation/${request.conversation}`;
      for (let i = 0; i < this.plan.turns * this.plan.pagesPerTurn; i++) {
        parent = createHash('sha256').update(parent).update(tag).digest();
        own.push(parent);
      }
      this.conversations.set(request.conversation, own);
    }
    return [...system, ...own.slice(0, request.pages - this.plan.systemPages)];
  }
}
