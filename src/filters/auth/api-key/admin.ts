// The admin endpoints under /auth/apiKey (the admin server checked the
// bearer token and parsed the JSON body). A key is in a response once, when
// it is made; lists show its public part (prefix + id), never the key or
// its hash.
import type { KeyObject } from 'node:crypto';
import { Type, type TSchema } from '@sinclair/typebox';
import type { AuthAdminAnswer, AuthAdminCall } from '../../../supervisor/auth-control.js';
import { ERRORS, type ErrorCode } from '../../../pipeline/errors.js';
import { hashKey, newKey } from './keys.js';
import type { Change, ConsumerRecord, Intent, KeyRecord, Refusal } from './records.js';
import { CONSUMER_NAME, ROLE_OR_SCOPE } from './stored.js';
import { StoreUnavailableError, type KeyStore } from './store.js';
import { checker } from './validate.js';

const TEN_YEARS = 315_360_000;
const strict = { additionalProperties: false } as const;

const CreateConsumer = Type.Object(
  {
    name: Type.String({ pattern: CONSUMER_NAME }),
    roles: Type.Optional(Type.Array(ROLE_OR_SCOPE, { maxItems: 64 })),
    scopes: Type.Optional(Type.Array(ROLE_OR_SCOPE, { maxItems: 64 })),
  },
  strict,
);
const CreateKey = Type.Object({ expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: TEN_YEARS })) }, strict);
const Rotate = Type.Object(
  {
    graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: TEN_YEARS })),
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: TEN_YEARS })),
  },
  strict,
);

export interface AdminEnv {
  readonly store: KeyStore | null;
  readonly secret: KeyObject | null;
  readonly prefix: string;
  readonly graceSeconds: number;
  /** The store's commit, one at a time. */
  commit(i: Intent): Promise<Change | Refusal>;
}

const fail = (code: ErrorCode, message: string = ERRORS[code].message): AuthAdminAnswer => ({ status: ERRORS[code].status, body: { error: { code, message } } });
const methodNotAllowed = (allow: string): AuthAdminAnswer => fail('WICKET_ERR_METHOD_NOT_ALLOWED', `use ${allow}`);

const REFUSED: Readonly<Record<Refusal, ErrorCode>> = {
  'consumer-exists': 'WICKET_ERR_CONSUMER_EXISTS',
  'no-consumer': 'WICKET_ERR_CONSUMER_NOT_FOUND',
  'no-key': 'WICKET_ERR_API_KEY_NOT_FOUND',
  'key-exists': 'WICKET_ERR_API_KEY_STORE_UNAVAILABLE', // a random 48-bit id taken twice: try again
};

const problems = new Map<TSchema, (v: unknown) => string | null>();

/** The body as `schema` wants it, or a 400 naming the first problem. */
function body<T>(schema: TSchema, v: unknown): T | AuthAdminAnswer {
  const b = v ?? {};
  let check = problems.get(schema);
  if (check === undefined) problems.set(schema, (check = checker(schema)));
  const problem = check(b);
  return problem === null ? (b as T) : fail('WICKET_ERR_BAD_REQUEST', `body ${problem}`);
}
const isAnswer = (v: unknown): v is AuthAdminAnswer => v !== null && typeof v === 'object' && 'status' in v && 'body' in v;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function consumerView(c: ConsumerRecord, keys: number): unknown {
  return { name: c.name, roles: c.roles, scopes: c.scopes, createdAt: iso(c.createdAt), keys };
}

function keyView(k: KeyRecord, lastUsed: number | null, now: number): unknown {
  return {
    id: k.id,
    prefix: k.shown,
    consumer: k.consumer,
    createdAt: iso(k.createdAt),
    expiresAt: iso(k.expiresAt),
    expired: k.expiresAt !== null && k.expiresAt <= now,
    lastUsedAt: iso(lastUsed),
    ...(k.replacedBy === undefined ? {} : { replacedBy: k.replacedBy }),
  };
}

/** `/consumers[/<name>[/keys[/<id>[/rotate]]]]`, names and ids decoded; null: not one of ours. */
function parsePath(path: string): { name?: string; keys?: boolean; id?: string; rotate?: boolean } | null {
  const m = /^\/consumers(?:\/([^/]+)(?:\/(keys)(?:\/([^/]+)(?:\/(rotate))?)?)?)?\/?$/.exec(path);
  if (m === null) return null;
  try {
    return { name: m[1] && decodeURIComponent(m[1]), keys: m[2] !== undefined, id: m[3] && decodeURIComponent(m[3]), rotate: m[4] !== undefined };
  } catch {
    return null;
  }
}

export async function apiKeyAdmin(call: AuthAdminCall, env: AdminEnv): Promise<AuthAdminAnswer | null> {
  const p = parsePath(call.path);
  if (p === null) return null;
  const store = env.store;
  if (store === null || env.secret === null || !store.ready) return fail('WICKET_ERR_API_KEY_STORE_UNAVAILABLE');
  const state = store.state;
  const now = Date.now();
  const commit = async (i: Intent, ok: (c: Change) => AuthAdminAnswer): Promise<AuthAdminAnswer> => {
    try {
      const c = await env.commit(i);
      return typeof c === 'string' ? fail(REFUSED[c]) : ok(c);
    } catch (err) {
      if (err instanceof StoreUnavailableError) return fail('WICKET_ERR_API_KEY_STORE_UNAVAILABLE', err.message);
      throw err;
    }
  };
  /** A new key for `consumer`: the record to store, and the key to show once. */
  const issue = (consumer: string, expiresInSeconds: number | undefined): { rec: KeyRecord; key: string } => {
    const k = newKey(env.prefix);
    const rec: KeyRecord = { id: k.id, consumer, hash: hashKey(env.secret!, k.key), shown: k.shown, createdAt: now, expiresAt: expiresInSeconds === undefined ? null : now + expiresInSeconds * 1000 };
    return { rec, key: k.key };
  };

  if (p.name === undefined) {
    if (call.verb === 'GET') {
      const count = new Map<string, number>();
      for (const k of state.keys.values()) count.set(k.consumer, (count.get(k.consumer) ?? 0) + 1);
      const list = [...state.consumers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => consumerView(c, count.get(c.name) ?? 0));
      return { status: 200, body: { consumers: list } };
    }
    if (call.verb !== 'POST') return methodNotAllowed('GET or POST');
    const b = body<{ name: string; roles?: string[]; scopes?: string[] }>(CreateConsumer, call.body);
    if (isAnswer(b)) return b;
    const consumer: ConsumerRecord = { name: b.name, roles: b.roles ?? [], scopes: b.scopes ?? [], createdAt: now };
    return commit({ op: 'consumer', consumer }, () => ({ status: 201, body: consumerView(consumer, 0) }));
  }

  const name = p.name;
  if (!p.keys) {
    if (call.verb === 'GET') {
      const c = state.consumers.get(name);
      return c === undefined ? fail('WICKET_ERR_CONSUMER_NOT_FOUND') : { status: 200, body: consumerView(c, state.keysOf(name).length) };
    }
    if (call.verb !== 'DELETE') return methodNotAllowed('GET or DELETE');
    return commit({ op: 'consumer-del', name }, () => ({ status: 200, body: { deleted: name } }));
  }

  if (p.id === undefined) {
    if (call.verb === 'GET') {
      if (!state.consumers.has(name)) return fail('WICKET_ERR_CONSUMER_NOT_FOUND');
      const keys = state.keysOf(name).sort((a, b) => a.createdAt - b.createdAt);
      const used = await store.lastUsed(keys.map((k) => k.id));
      return { status: 200, body: { consumer: name, keys: keys.map((k, n) => keyView(k, used[n]!, now)) } };
    }
    if (call.verb !== 'POST') return methodNotAllowed('GET or POST');
    const b = body<{ expiresInSeconds?: number }>(CreateKey, call.body);
    if (isAnswer(b)) return b;
    const { rec, key } = issue(name, b.expiresInSeconds);
    return commit({ op: 'key', key: rec }, () => ({ status: 201, body: { ...(keyView(rec, null, now) as object), key } }));
  }

  const id = p.id;
  if (p.rotate) {
    if (call.verb !== 'POST') return methodNotAllowed('POST');
    const b = body<{ graceSeconds?: number; expiresInSeconds?: number }>(Rotate, call.body);
    if (isAnswer(b)) return b;
    const { rec, key } = issue(name, b.expiresInSeconds);
    const graceUntil = now + (b.graceSeconds ?? env.graceSeconds) * 1000;
    return commit({ op: 'rotate', oldId: id, graceUntil, key: rec }, (c) => ({
      status: 201,
      body: { ...(keyView(rec, null, now) as object), key, replaced: c.op === 'rotate' ? keyView(c.old, state.used.get(c.old.id) ?? null, now) : null },
    }));
  }
  if (call.verb !== 'DELETE') return methodNotAllowed('DELETE');
  return commit({ op: 'key-del', consumer: name, id }, () => ({ status: 200, body: { revoked: id, consumer: name } }));
}
