// oidc-provider ships no types (test-only dependency): the part the OIDC test uses.
declare module 'oidc-provider' {
  import type http from 'node:http';
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    on(event: string, listener: (...args: never[]) => void): this;
    listen(port: number, host: string): http.Server;
  }
}
