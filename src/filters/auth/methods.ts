// Every auth method: one folder under src/filters/auth/ and one line here
// (plus its schema lines in schema.ts). A method is an authenticator per
// route, and optionally one worker-wide service built from its top-level
// auth section (key sets, key tables, a hashing pool).
import type { AuthenticatorFactory } from './authenticator.js';
import type { AuthIo } from './services.js';
import { introspectionMethod } from './introspection/index.js';
import { oidcMethod } from './oidc/index.js';
import { jwtMethod } from './jwt/index.js';
import { basicMethod } from './basic/index.js';
import { apiKeyMethod } from './api-key/index.js';

export interface AuthMethod {
  /** The key in a route's auth.methods[] entry and in the top-level auth section. */
  readonly key: string;
  readonly create: AuthenticatorFactory;
  /**
   * The worker-wide service for the top-level `auth.<key>` section (undefined
   * when absent). Called on every config version with the previous service,
   * which it may keep (state such as fetched key sets survives reloads).
   */
  readonly service?: (section: unknown, previous: unknown, io: AuthIo) => unknown;
  /** Ends a service no longer used (timers, thread pools). */
  readonly close?: (service: unknown) => void;
}

export const METHODS: readonly AuthMethod[] = [
  jwtMethod,
  introspectionMethod,
  oidcMethod,
  basicMethod,
  apiKeyMethod, // apiKey: keys the gateway issues (api-key/)
];
