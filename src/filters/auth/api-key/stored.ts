// The shapes a store holds, checked when read back (a file edited by hand, or
// another gateway's Redis writes, must not put a malformed record in a worker).
import { Type, type Static } from '@sinclair/typebox';
import type { ConsumerRecord, KeyRecord } from './records.js';
import { checker } from './validate.js';

const Ms = Type.Integer({ minimum: 0 });
/** Consumer names go into upstream headers and admin paths: no spaces, no control bytes. */
export const CONSUMER_NAME = '^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$';
export const ROLE_OR_SCOPE = Type.String({ pattern: '^[\\x21-\\x7e]{1,128}$' });

const StoredConsumer = Type.Object({
  name: Type.String({ pattern: CONSUMER_NAME }),
  roles: Type.Array(ROLE_OR_SCOPE, { maxItems: 64 }),
  scopes: Type.Array(ROLE_OR_SCOPE, { maxItems: 64 }),
  createdAt: Ms,
});

const StoredKey = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{12}$' }),
  consumer: Type.String({ pattern: CONSUMER_NAME }),
  hash: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  shown: Type.String({ minLength: 1, maxLength: 64 }),
  createdAt: Ms,
  expiresAt: Type.Union([Ms, Type.Null()]),
  replacedBy: Type.Optional(Type.String({ pattern: '^[0-9a-f]{12}$' })),
});

/** The store file's whole content. */
export const StoreFile = Type.Object({
  version: Type.Literal(1),
  consumers: Type.Array(StoredConsumer),
  keys: Type.Array(StoredKey),
  /** Key id -> ms last used. */
  used: Type.Optional(Type.Record(Type.String(), Ms)),
});
export type StoreFileContent = Static<typeof StoreFile>;

const consumerProblem = checker(StoredConsumer);
const keyProblem = checker(StoredKey);
const fileProblem = checker(StoreFile);

export function asConsumer(v: unknown): ConsumerRecord | null {
  return consumerProblem(v) === null ? (v as ConsumerRecord) : null;
}

export function asKey(v: unknown): KeyRecord | null {
  return keyProblem(v) === null ? (v as KeyRecord) : null;
}

/** The file's records, or what is wrong with it (the first error's path). */
export function parseStoreFile(text: string): StoreFileContent | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  const problem = fileProblem(v);
  return problem === null ? (v as StoreFileContent) : `not an API-key store (${problem})`;
}
