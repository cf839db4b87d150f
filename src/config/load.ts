// Config loading: parse (YAML/JSON) -> schema -> semantic checks -> env overrides -> defaults.
// Every stage reports all it finds; nothing is resolved unless the whole lot is clean.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FILTER_SCHEMAS } from '../filters/schemas.js';
import { checkSchema } from './check-schema.js';
import { readEnvOverrides } from './env.js';
import { ConfigInvalidError, formatPath, type ConfigError, type Issue } from './errors.js';
import { resolveConfig, type ResolvedConfig } from './resolve.js';
import type { Config } from './schema.js';
import { checkSemantics } from './semantic.js';
import { parseSource } from './source.js';

export { ConfigInvalidError, formatConfigErrors, type ConfigError } from './errors.js';
export type {
  ResolvedConfig,
  ResolvedMatch,
  ResolvedRoute,
  ResolvedTarget,
  ResolvedUpstream,
  ResolvedRetry,
  ResolvedHealthCheck,
  ResolvedBreaker,
  ResolvedOutlier,
  ResolvedLimit,
  ResolvedRouteRateLimit,
  ResolvedWebSocket,
  ResolvedPubSub,
  ResolvedPubSubRoute,
} from './resolve.js';

type Env = Record<string, string | undefined>;

function toErrors(issues: Issue[], lineOf: (i: Issue) => number | undefined): ConfigError[] {
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.at);
    const key = `${path}\0${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const line = lineOf(issue);
    out.push(line === undefined ? { path, message: issue.message } : { path, message: issue.message, line });
  }
  return out;
}

/**
 * Filters that read files at load (an OpenAPI document) do it now, so a bad
 * file refuses the config; what they return replaces the route's value.
 */
function loadFilterFiles(root: unknown, dir: string): Issue[] {
  const issues: Issue[] = [];
  const routes = (root as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(routes)) return issues;
  routes.forEach((r: unknown, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return;
    const route = r as Record<string, unknown>;
    for (const f of FILTER_SCHEMAS) {
      if (f.load === undefined || route[f.key] === undefined) continue;
      const out = f.load(route[f.key], dir, route);
      if ('issues' in out) for (const x of out.issues) issues.push({ at: ['routes', i, f.key, ...x.at], message: x.message });
      else route[f.key] = out.value;
    }
  });
  return issues;
}

export function parseConfig(text: string, file: string, env: Env = {}): ResolvedConfig {
  const { overrides, issues: envIssues } = readEnvOverrides(env);
  const envErrors = toErrors(envIssues, () => undefined);
  const parsed = parseSource(text);
  if (!parsed.ok) {
    throw new ConfigInvalidError(file, [...toErrors(parsed.issues, (i) => i.line), ...envErrors]);
  }
  const schemaIssues = checkSchema(parsed.data);
  // A semantic finding about a node the schema already rejected would only repeat it.
  const node = (i: Issue) => `${formatPath(i.at)}${i.atKey ? ' (key)' : ''}`;
  const rejected = new Set(schemaIssues.map(node));
  const semanticIssues = [...checkSemantics(parsed.data, dirname(resolve(file))), ...loadFilterFiles(parsed.data, dirname(resolve(file)))].filter((i) => !rejected.has(node(i)));
  // In file order: easier to fix top to bottom (sort is stable for equal lines).
  const fileErrors = toErrors([...schemaIssues, ...semanticIssues], parsed.lineOf).sort(
    (x, y) => (x.line ?? Infinity) - (y.line ?? Infinity),
  );
  const errors = [...fileErrors, ...envErrors];
  if (errors.length > 0) throw new ConfigInvalidError(file, errors);
  return resolveConfig(parsed.data as Config, file, overrides);
}

export async function loadConfig(file: string, env: Env = process.env): Promise<ResolvedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ConfigInvalidError(file, [{ path: '', message: `cannot read config file ${file}: ${reason}` }]);
  }
  return parseConfig(text, file, env);
}
