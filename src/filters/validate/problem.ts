// The validate filter's answers: RFC 9457 problem details
// (application/problem+json) with the gateway's error code, the request id,
// and an `errors` extension listing each violation with where it is (body,
// path, query, header) and a JSON pointer (into the body) or the parameter
// name. Messages are Ajv's, which name the schema's constraint and never
// echo the request's values.
import type { ErrorObject } from 'ajv';
import type { RequestContext } from '../../pipeline/context.js';
import { ERRORS, type ErrorCode } from '../../pipeline/errors.js';
import type { LocalReply } from '../../pipeline/filter.js';

export interface Violation {
  readonly in: 'body' | 'path' | 'query' | 'header';
  readonly pointer: string;
  readonly message: string;
}

/** At most this many violations are listed (allErrors may find thousands in a large body). */
export const MAX_VIOLATIONS = 20;

const unescape = (s: string): string => s.replace(/~1/g, '/').replace(/~0/g, '~');
const escape = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Where an Ajv error points: the instance path, plus the member a `required` or `additionalProperties` error is about. */
function instancePointer(e: ErrorObject): string {
  const p = e.params as { missingProperty?: string; additionalProperty?: string; propertyName?: string };
  const member = e.keyword === 'required' ? p.missingProperty : e.keyword === 'additionalProperties' ? p.additionalProperty : undefined;
  return member === undefined ? e.instancePath : `${e.instancePath}/${escape(member)}`;
}

function message(e: ErrorObject): string {
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'additionalProperties') return 'is not allowed (no additional properties)';
  return e.message ?? `fails ${e.keyword}`;
}

/** Body violations: pointers into the JSON body. */
export function bodyViolations(errors: readonly ErrorObject[] | null | undefined, out: Violation[]): void {
  for (const e of errors ?? []) {
    if (out.length >= MAX_VIOLATIONS) return;
    // A failed if/then or a oneOf with no match also reports its branches' errors: the branches say more.
    if (e.keyword === 'if') continue;
    out.push({ in: 'body', pointer: instancePointer(e), message: message(e) });
  }
}

/** Parameter violations: the pointer is the parameter's name (and the rest of the path inside its value). */
export function paramViolations(where: Violation['in'], errors: readonly ErrorObject[] | null | undefined, out: Violation[]): void {
  for (const e of errors ?? []) {
    if (out.length >= MAX_VIOLATIONS) return;
    if (e.keyword === 'if') continue;
    const ptr = instancePointer(e).slice(1).split('/');
    const name = unescape(ptr[0]!);
    const rest = ptr.slice(1).join('/');
    out.push({ in: where, pointer: rest === '' ? name : `${name}/${rest}`, message: message(e) });
  }
}

/** A problem+json reply (a JSON gRPC client cannot read one: gRPC requests get the code as a gRPC status). */
export function problem(ctx: RequestContext, code: ErrorCode, detail: string, errors: readonly Violation[] | null, headers: readonly string[] = []): LocalReply {
  ctx.errorCode = code;
  if (ctx.grpc) return { error: code };
  const spec = ERRORS[code];
  const body: Record<string, unknown> = { type: `urn:wicket:error:${code}`, title: spec.message, status: spec.status, detail, code, requestId: ctx.requestId };
  if (errors !== null) body.errors = errors;
  return { status: spec.status, headers: ['content-type', 'application/problem+json', 'x-request-id', ctx.requestId, ...headers], body: JSON.stringify(body) };
}
