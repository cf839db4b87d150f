// What the jwt method's supervisor side (control.ts) and its worker side
// (service.ts) say to each other over the auth IPC channel.

export type ToWorker =
  /** A provider's fetched key set (null: never fetched yet); `answer`: in reply to this worker's refetch. */
  | { t: 'keys'; provider: string; url: string; keys: Record<string, unknown>[] | null; answer?: boolean }
  /** The whole revocation list: [jti, until (ms since the epoch; null: until deleted)]. */
  | { t: 'revocations'; entries: [string, number | null][] }
  | { t: 'revoke'; jti: string; until: number | null }
  | { t: 'unrevoke'; jti: string };

export type ToSupervisor = { t: 'refetch'; provider: string; url: string };

/** How long past a token's exp its revocation is kept (longer than any allowed clock skew). */
export const REVOCATION_GRACE_MS = 600_000;
