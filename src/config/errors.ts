// Config errors: what the loader reports and how it is printed.

export interface ConfigError {
  /** Dotted/bracket path into the config, e.g. `routes[0].match.path`; '' for the whole file. */
  path: string;
  message: string;
  /** 1-based line of the offending node, when the error comes from the file. */
  line?: number;
}

/** A path as segments: strings are object keys, numbers array indexes. */
export type PathSegments = ReadonlyArray<string | number>;

/** An error before it is placed in the file; `atKey` points at the key rather than its value. */
export interface Issue {
  at: PathSegments;
  message: string;
  atKey?: boolean;
  line?: number;
}

export class ConfigInvalidError extends Error {
  readonly code = 'WICKET_ERR_CONFIG_INVALID';
  readonly file: string;
  readonly errors: ConfigError[];

  constructor(file: string, errors: ConfigError[]) {
    const n = errors.length;
    super(`${file}: invalid config (${n} error${n === 1 ? '' : 's'})`);
    this.name = 'ConfigInvalidError';
    this.file = file;
    this.errors = errors;
  }
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** `['routes', 0, 'match']` -> `routes[0].match`; keys that are not identifiers go in `["..."]`. */
export function formatPath(at: PathSegments): string {
  let out = '';
  for (const seg of at) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** One line per error: `FILE: path: message (line N)`. */
export function formatConfigErrors(err: ConfigInvalidError): string[] {
  return err.errors.map(
    (e) => `${err.file}: ${e.path === '' ? '(root)' : e.path}: ${e.message}${e.line === undefined ? '' : ` (line ${e.line})`}`,
  );
}
