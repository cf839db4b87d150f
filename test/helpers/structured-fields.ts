// A strict parser for the one Structured Field shape the rate-limit headers
// use (RFC 9651): an sf-list whose members are sf-string items with
// parameters whose values are sf-integers (or bare, = true), e.g.
//   "per-second";q=10;w=1, "hourly";q=1000;w=3600
// Anything outside that grammar (tokens or numbers as items, inner lists,
// upper-case keys, decimals, leading/trailing whitespace, a trailing comma,
// duplicate keys, non-canonical integers) throws: the tests use this to
// check what the gateway emits, so it is stricter than a lenient receiver.
//
//   sf-list     = list-member *( OWS "," OWS list-member )
//   sf-item     = bare-item parameters         (bare-item here: sf-string)
//   parameters  = *( ";" *SP key [ "=" bare-item ] )   (bare-item here: sf-integer)
//   key         = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
//   sf-integer  = [ "-" ] 1*15DIGIT
//   sf-string   = DQUOTE *( unescaped / "%" / escaped ) DQUOTE
//   unescaped   = %x20-21 / %x23-24 / %x26-5B / %x5D-7E
//   escaped     = "\" ( DQUOTE / "\" )

export interface SfMember {
  /** The string item, unescaped. */
  value: string;
  /** Parameters in order; a bare key is `true`. */
  params: Map<string, number | true>;
}

export class SfError extends Error {}

export function parseStringList(field: string): SfMember[] {
  let i = 0;
  const fail = (why: string): never => {
    throw new SfError(`${why} at ${i} in ${JSON.stringify(field)}`);
  };
  const out: SfMember[] = [];
  if (field.length === 0) fail('empty list');
  for (;;) {
    // sf-string
    if (field[i] !== '"') fail('expected an sf-string item');
    i++;
    let value = '';
    for (;;) {
      if (i >= field.length) fail('unterminated string');
      const c = field.charCodeAt(i);
      if (c === 0x5c) {
        const n = field[i + 1];
        if (n !== '"' && n !== '\\') fail('bad escape');
        value += n;
        i += 2;
        continue;
      }
      if (c === 0x22) {
        i++;
        break;
      }
      if (c < 0x20 || c > 0x7e) fail('character outside sf-string');
      value += field[i];
      i++;
    }
    // parameters
    const params = new Map<string, number | true>();
    while (field[i] === ';') {
      i++;
      while (field[i] === ' ') i++;
      const key = /^[a-z*][a-z0-9_.*-]*/.exec(field.slice(i))?.[0];
      if (key === undefined) fail('bad parameter key');
      i += key!.length;
      if (params.has(key!)) fail(`duplicate parameter ${key}`);
      if (field[i] === '=') {
        i++;
        const int = /^-?(0|[1-9][0-9]{0,14})(?![0-9.])/.exec(field.slice(i))?.[0];
        if (int === undefined) fail(`parameter ${key} is not a (canonical) sf-integer`);
        params.set(key!, Number(int));
        i += int!.length;
      } else params.set(key!, true);
    }
    out.push({ value, params });
    if (i === field.length) return out;
    // OWS "," OWS
    while (field[i] === ' ' || field[i] === '\t') i++;
    if (field[i] !== ',') fail('expected ","');
    i++;
    while (field[i] === ' ' || field[i] === '\t') i++;
    if (i === field.length) fail('trailing comma');
  }
}

/** Non-negative integer parameter `key` of a member (throws when absent or not one). */
export function intParam(m: SfMember, key: string): number {
  const v = m.params.get(key);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SfError(`"${m.value}": ${key} is ${String(v)}, not a non-negative integer`);
  return v;
}

/**
 * RateLimit-Policy: every member has q and w as non-negative integers (q > 0),
 * names unique. Returns name -> {q, w}.
 */
export function parsePolicy(field: string): Map<string, { q: number; w: number }> {
  const out = new Map<string, { q: number; w: number }>();
  for (const m of parseStringList(field)) {
    if (out.has(m.value)) throw new SfError(`duplicate policy "${m.value}"`);
    const q = intParam(m, 'q');
    if (q === 0) throw new SfError(`"${m.value}": q=0`);
    out.set(m.value, { q, w: intParam(m, 'w') });
  }
  return out;
}

/** RateLimit: every member has r and t as non-negative integers, names unique. Returns name -> {r, t}. */
export function parseRateLimit(field: string): Map<string, { r: number; t: number }> {
  const out = new Map<string, { r: number; t: number }>();
  for (const m of parseStringList(field)) {
    if (out.has(m.value)) throw new SfError(`duplicate limit "${m.value}"`);
    out.set(m.value, { r: intParam(m, 'r'), t: intParam(m, 't') });
  }
  return out;
}
