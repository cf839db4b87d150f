import { Type, type Static } from '@sinclair/typebox';

/**
 * Lower-case field names; framing and hop-by-hop fields belong to the
 * gateway and cannot be set by rules.
 */
const Name = Type.String({
  pattern: "^(?!(?:host|content-length|transfer-encoding|connection|keep-alive|proxy-connection|te|trailer|upgrade)$)[!#$%&'*+.^_`|~0-9a-z-]+$",
  description: 'A lower-case header name (not Host, Content-Length, Transfer-Encoding or a hop-by-hop field)',
});
/** A value template: text and {placeholders}; no control characters. */
export const TEMPLATE_PATTERN = '^(?:[^{}\\x00-\\x08\\x0a-\\x1f\\x7f]|\\{(?:client_ip|request_id|method|path|host|route|scheme|param\\.[A-Za-z_][A-Za-z0-9_]*|header\\.[a-z0-9-]+)\\})*$';
const Value = Type.String({
  pattern: TEMPLATE_PATTERN,
  description: 'Text with {client_ip} {request_id} {method} {path} {host} {route} {scheme} {param.NAME} {header.NAME}',
});

const Rules = Type.Object(
  {
    set: Type.Optional(Type.Record(Name, Value, { additionalProperties: false, description: 'Replace (or add) these headers' })),
    add: Type.Optional(Type.Record(Name, Value, { additionalProperties: false, description: 'Add these headers (repeats kept)' })),
    remove: Type.Optional(Type.Array(Name, { description: 'Remove these headers' })),
    rename: Type.Optional(Type.Record(Name, Name, { additionalProperties: false, description: 'Rename old: new (values kept)' })),
  },
  { additionalProperties: false },
);

export const HeaderRulesSchema = Type.Object(
  {
    request: Type.Optional({ ...Rules, description: 'Applied to the request sent upstream (after the gateway adds its forwarding headers)' }),
    response: Type.Optional({ ...Rules, description: 'Applied to every response to the client, the gateway\'s own included' }),
  },
  { additionalProperties: false, description: 'Header rules, applied in the order rename, remove, set, add' },
);

export type HeaderRulesConfig = Static<typeof HeaderRulesSchema>;
export type RuleSet = Static<typeof Rules>;
