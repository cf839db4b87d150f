import { Type, type Static } from '@sinclair/typebox';

export const ValidateSchema = Type.Object(
  {
    openapi: Type.Optional(
      Type.String({ minLength: 1, description: 'An OpenAPI 3.0 or 3.1 document (YAML or JSON; relative paths are relative to the config file\'s directory): each request is validated against its operation' }),
    ),
    body: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'A JSON Schema for the request body (instead of openapi): the body must be JSON and match it' })),
    dialect: Type.Optional(Type.Union([Type.Literal('2020-12'), Type.Literal('draft-07')], { description: 'The JSON Schema dialect of `body` (default 2020-12)' })),
    bodyRequired: Type.Optional(Type.Boolean({ description: 'With `body`: a request without a body is refused (default true)' })),
    unknownOperation: Type.Optional(
      Type.Union([Type.Literal('reject'), Type.Literal('pass')], { description: 'A request that matches no operation of the document: reject (404, or 405 when the path exists) or pass unchecked (default reject)' }),
    ),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Taken off the request path before it is matched against the document\'s paths (e.g. /api/v1)' })),
    responses: Type.Optional(
      Type.Boolean({ description: 'Also check JSON responses against the operation\'s response schema: a mismatch is logged and counted, the response still goes out (for testing environments; default false)' }),
    ),
  },
  { additionalProperties: false, description: 'Request validation: a JSON Schema for the body, or an OpenAPI 3.0/3.1 document (docs/ARCHITECTURE.md "Request validation")' },
);

export type ValidateConfig = Static<typeof ValidateSchema>;

/** What the config loader makes of ValidateConfig (src/filters/validate/load.ts): the document read and checked. */
export interface ResolvedValidate extends ValidateConfig {
  /** The OpenAPI document as parsed (3.0 schemas not yet converted). */
  document?: Record<string, unknown>;
  /** The file read (absolute), for messages. */
  file?: string;
}
