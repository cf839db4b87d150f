// Validates parsed config against the TypeBox schema with Ajv and turns Ajv's
// errors into short, human messages (one per problem, not one per union branch).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Issue, PathSegments } from './errors.js';
import { ConfigSchema } from './schema.js';

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  // verbose: errors carry schema/parentSchema/data, which the messages below need.
  validator ??= new Ajv({ allErrors: true, strict: true, verbose: true }).compile(ConfigSchema);
  return validator;
}

export function checkSchema(data: unknown): Issue[] {
  const validate = compiled();
  if (validate(data)) return [];
  return humanize(validate.errors ?? [], data);
}

// Patterns from schema.ts, said in words.
const PATTERN_HINTS: Record<string, string> = {
  '^/': 'must start with "/"',
  '^https?://': 'must be an http:// or https:// URL',
  '^[A-Za-z]+$': 'must be an HTTP method name (letters only)',
  '^[A-Za-z0-9_.-]+$': 'must contain only letters, digits, "_", "." and "-"',
};

const patternMessage = (pattern: string) => PATTERN_HINTS[pattern] ?? `must match pattern ${pattern}`;

/** JSON pointer -> segments, with array indexes as numbers (decided by walking the data). */
function segmentsOf(pointer: string, data: unknown): (string | number)[] {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const seg = Array.isArray(node) ? Number(key) : key;
    out.push(seg);
    node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
  }
  return out;
}

function humanize(errors: ErrorObject[], data: unknown): Issue[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  // Same schema location *and* same value: a record's entries share one schemaPath.
  const inside = (e: ErrorObject, a: ErrorObject) =>
    e.schemaPath.startsWith(`${a.schemaPath}/`) &&
    (e.instancePath === a.instancePath || e.instancePath.startsWith(`${a.instancePath}/`));
  // Outermost unions only; nested ones are handled when their branch is chosen.
  const top = anyOfs.filter((a) => !anyOfs.some((b) => b !== a && inside(a, b)));
  const out: Issue[] = [];
  const done = new Set<ErrorObject>();
  for (const e of errors) {
    const owner = top.find((a) => a === e || inside(e, a));
    if (!owner) {
      out.push(simple(e, data));
    } else if (!done.has(owner)) {
      done.add(owner);
      out.push(...collapseUnion(owner, errors.filter((c) => inside(c, owner)), data));
    }
  }
  return out;
}

type Schema = Record<string, unknown>;

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeFits(branch: Schema, v: unknown): boolean {
  const t = jsonType(v);
  return branch.type === t || (branch.type === 'number' && t === 'integer');
}

function describe(s: Schema): string {
  if ('const' in s) return JSON.stringify(s.const);
  switch (s.type) {
    case 'object':
      return `an object with ${Object.keys((s.properties as Schema | undefined) ?? {}).map((k) => `"${k}"`).join(', ')}`;
    case 'array':
      return `a list of ${describe((s.items as Schema | undefined) ?? {}).replace(/^an? /, '')}s`;
    case 'integer':
      return 'an integer';
    case undefined:
      return 'a value';
    default:
      return `a ${String(s.type)}`;
  }
}

function orList(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** One union failure -> one message, or the errors of the single branch the value was evidently meant for. */
function collapseUnion(union: ErrorObject, children: ErrorObject[], data: unknown): Issue[] {
  const at = segmentsOf(union.instancePath, data);
  const branches = union.schema as Schema[];
  const value = union.data;
  if (branches.every((b) => 'const' in b)) {
    return [{ at, message: `must be one of ${branches.map((b) => String(b.const)).join(', ')}` }];
  }
  let candidates = branches.map((b, i) => ({ b, i })).filter(({ b }) => typeFits(b, value));
  if (candidates.length > 1 && jsonType(value) === 'object') {
    const keys = Object.keys(value as object);
    candidates = candidates.filter(({ b }) => keys.some((k) => k in ((b.properties as Schema | undefined) ?? {})));
  }
  if (candidates.length === 1) {
    const prefix = `${union.schemaPath}/${candidates[0]!.i}/`;
    const chosen = children.filter((c) => c.schemaPath.startsWith(prefix));
    if (chosen.length > 0) return humanize(chosen, data);
  }
  return [{ at, message: `must be ${orList(branches.map(describe))}` }];
}

function simple(e: ErrorObject, data: unknown): Issue {
  const at: PathSegments = segmentsOf(e.instancePath, data);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const patterns = Object.keys((e.parentSchema?.patternProperties as Schema | undefined) ?? {});
      const message =
        patterns.length === 1
          ? `invalid name "${key}": ${patternMessage(patterns[0]!)}`
          : `unknown key "${key}"`;
      return { at: [...at, key], atKey: true, message };
    }
    case 'required':
      return { at, message: `missing required key "${String(p.missingProperty)}"` };
    case 'pattern':
      return { at, message: patternMessage(String(p.pattern)) };
    case 'const':
      return { at, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'enum':
      return { at, message: `must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}` };
    case 'minItems':
      return { at, message: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` };
    case 'minLength':
      return {
        at,
        message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long`,
      };
    default:
      return { at, message: e.message ?? `fails "${e.keyword}"` };
  }
}
