// Topic names and the tiny client protocol of pubsub routes. No protocol
// library here: the listener hands in strings and bytes.
import { TOPIC_MAX, TOPIC_PATTERN } from '../../config/schema.js';
import type { ResolvedPubSubRoute } from '../../config/resolve.js';
import type { RequestContext } from '../../pipeline/context.js';

const TOPIC = new RegExp(TOPIC_PATTERN);

/** Dot-separated tokens of [A-Za-z0-9_~:-], at most 128 chars: a valid Redis channel and NATS subject suffix. */
export function validTopic(t: unknown): t is string {
  return typeof t === 'string' && t.length > 0 && t.length <= TOPIC_MAX && TOPIC.test(t);
}

/**
 * A new subscriber's topics, from the route's `topics` source: a path
 * parameter (one topic) or a query parameter (comma-separated and/or
 * repeated). null: a topic is missing or invalid, or there are more than
 * `maxTopics`; [] when the route takes none at connect.
 */
export function topicsAtConnect(ctx: RequestContext, s: ResolvedPubSubRoute): string[] | null {
  const src = s.topics;
  if (src === null) return [];
  let raw: string[];
  if (src.from === 'param') {
    const v = ctx.params[src.name];
    raw = v === undefined ? [] : [v];
  } else {
    raw = ctx.query === '' ? [] : new URLSearchParams(ctx.query).getAll(src.name).flatMap((v) => v.split(','));
  }
  const out = [...new Set(raw)];
  if (out.length === 0 || out.length > s.maxTopics || !out.every(validTopic)) return null;
  return out;
}

export type ClientOp =
  | { op: 'subscribe' | 'unsubscribe'; topic: string }
  | { op: 'publish'; topic: string; data: string };

/** Parses one text frame of the client protocol; a string is why it was refused (sent as the 1008 reason). */
export function parseClientOp(text: string): ClientOp | string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'not a JSON object';
  const o = m as Record<string, unknown>;
  if (!validTopic(o.topic)) return 'invalid topic';
  switch (o.op) {
    case 'subscribe':
    case 'unsubscribe':
      return { op: o.op, topic: o.topic };
    case 'publish':
      if (typeof o.data !== 'string') return 'publish needs "data" (a string)';
      return { op: 'publish', topic: o.topic, data: o.data };
    default:
      return 'unknown op';
  }
}
