// Request validation (route key `validate`): against an OpenAPI 3.0/3.1
// document's operation (path, query and header parameters, the JSON body),
// or against a plain JSON Schema for the body. Schemas are compiled once per
// config version (operations.ts); a request runs compiled validators only,
// and its body is read whole (RequestContext.readBody, bounded by the
// route's body limit) only when a JSON body is to be checked: the proxy then
// sends exactly those bytes. Violations: 400 problem+json (problem.ts).
import { Slot, type RequestContext, type ResponseSink } from '../../pipeline/context.js';
import type { Decision, FilterModule } from '../../pipeline/filter.js';
import { bodyErrorCode } from '../../pipeline/whole-body.js';
import { Api, ApiError, compileBodySchema, pickMedia, type BodyCheck, type LocationCheck, type Operation } from './operations.js';
import { headerValues, pathValues, queryValues } from './params.js';
import { bodyViolations, paramViolations, problem, type Violation } from './problem.js';
import { CheckedSink, type ResponseCounts } from './response.js';
import type { ResolvedValidate } from './schema.js';

/** The request's operation, for the response check. */
const OP = new Slot<Operation>();

function verdict(ctx: RequestContext, label: string, found: Violation[]): Decision {
  if (found.length === 0) return undefined;
  const n = found.length;
  return problem(ctx, 'WICKET_ERR_VALIDATION', `${n} violation${n === 1 ? '' : 's'} of ${label}`, found);
}

function checkLocation(where: 'path' | 'query' | 'header', c: LocationCheck | null, data: () => Record<string, unknown>, found: Violation[]): void {
  if (c === null) return;
  if (!c.validate(data())) paramViolations(where, c.validate.errors, found);
}

function checkJson(ctx: RequestContext, label: string, body: BodyCheck, validate: NonNullable<BodyCheck['media'][number]['validate']>, found: Violation[], buf: Buffer): Decision {
  if (buf.length === 0) {
    if (body.required) found.push({ in: 'body', pointer: '', message: 'a request body is required' });
    return verdict(ctx, label, found);
  }
  let data: unknown;
  try {
    data = JSON.parse(buf.toString('utf8'));
  } catch {
    found.push({ in: 'body', pointer: '', message: 'is not valid JSON' });
    return verdict(ctx, label, found);
  }
  try {
    if (!validate(data)) bodyViolations(validate.errors, found);
  } catch (e) {
    // A recursive schema walks as deep as the body nests: past the stack, the body is refused, not the filter.
    if (!(e instanceof RangeError)) throw e;
    found.push({ in: 'body', pointer: '', message: 'is nested too deeply to be checked' });
  }
  return verdict(ctx, label, found);
}

function checkBody(ctx: RequestContext, label: string, body: BodyCheck, found: Violation[]): Decision | Promise<Decision> {
  if (!ctx.hasBody) {
    if (body.required) found.push({ in: 'body', pointer: '', message: 'a request body is required' });
    return verdict(ctx, label, found);
  }
  if (found.length > 0) return verdict(ctx, label, found); // refused anyway: the body need not be read
  const m = pickMedia(body, ctx.contentType);
  if (m === undefined) {
    const ct = ctx.contentType === '' ? 'none' : JSON.stringify(ctx.contentType.split(';', 1)[0]!.trim());
    const want = body.anyJson ? 'application/json or */*+json' : body.media.map((x) => x.range).join(', ');
    return problem(ctx, 'WICKET_ERR_UNSUPPORTED_MEDIA_TYPE', `content type ${ct} is not accepted by ${label}; expected ${want}`, null);
  }
  const validate = m.validate;
  if (validate === null) return undefined; // a listed non-JSON type: not checked
  return ctx.readBody().then(
    (buf) => checkJson(ctx, label, body, validate, found, buf),
    (err: unknown) => ({ error: bodyErrorCode(err) }),
  );
}

interface Compiled {
  readonly api: Api | null;
  readonly body: BodyCheck | null;
  readonly reject: boolean;
  readonly prefix: string;
  readonly responses: boolean;
}

function checkOperation(c: Compiled, api: Api, ctx: RequestContext): Decision | Promise<Decision> {
  let path = ctx.path;
  if (c.prefix !== '') {
    if (path === c.prefix || path.startsWith(`${c.prefix}/`)) path = path.slice(c.prefix.length) || '/';
    else path = '';
  }
  const m = path === '' ? ({ notFound: true } as const) : api.find(ctx.method, path);
  if ('notFound' in m) return c.reject ? problem(ctx, 'WICKET_ERR_OPERATION_NOT_FOUND', `no path of the API description matches ${ctx.path}`, null) : undefined;
  if ('allow' in m) return c.reject ? problem(ctx, 'WICKET_ERR_OPERATION_METHOD_NOT_ALLOWED', `${ctx.method} is not an operation of ${ctx.path} (allowed: ${m.allow})`, null, ['allow', m.allow]) : undefined;
  const op = m.op;
  if (c.responses) ctx.set(OP, op);
  const found: Violation[] = [];
  checkLocation('path', op.path, () => pathValues(op.path!.params, m.params), found);
  checkLocation('query', op.query, () => queryValues(op.query!.params, ctx.query), found);
  checkLocation('header', op.header, () => headerValues(op.header!.params, ctx), found);
  if (op.body === null) return verdict(ctx, op.label, found);
  return checkBody(ctx, op.label, op.body, found);
}

export const validateFilter: FilterModule = {
  key: 'validate',
  order: 400,
  compile(route, env) {
    const cfg = route.config.validate as ResolvedValidate | undefined;
    if (cfg === undefined) return null;
    if (route.kind !== 'proxy' && route.kind !== 'websocket') throw new Error('applies to proxy and websocket routes (the body is checked on its way upstream)');
    let api: Api | null = null;
    let body: BodyCheck | null = null;
    try {
      if (cfg.document !== undefined) api = new Api(cfg.document, { responses: cfg.responses ?? false });
      else if (cfg.body !== undefined) body = compileBodySchema(cfg.body, cfg.dialect ?? '2020-12', cfg.bodyRequired ?? true);
      else throw new Error('needs openapi (a document, read by the config loader) or body (a JSON Schema)');
    } catch (e) {
      if (e instanceof ApiError && cfg.file !== undefined) throw new Error(`${cfg.file}: ${e.message}`);
      throw e;
    }
    const c: Compiled = { api, body, reject: (cfg.unknownOperation ?? 'reject') === 'reject', prefix: cfg.pathPrefix?.replace(/\/+$/, '') ?? '', responses: api !== null && cfg.responses === true };
    const counts: ResponseCounts = { checked: 0, violations: 0, skipped: 0 };
    return {
      name: 'validate',
      onRequest: api !== null ? (ctx) => checkOperation(c, api, ctx) : (ctx) => checkBody(ctx, 'the route\'s body schema', body!, []),
      ...(c.responses
        ? { wrapSink: (ctx: RequestContext, sink: ResponseSink) => (ctx.grpc ? sink : new CheckedSink(ctx, sink, () => ctx.get(OP), counts, env.log)) }
        : {}),
    };
  },
};
