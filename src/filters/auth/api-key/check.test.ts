// The apiKey settings as the config loader checks them: refused whole, with the path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigInvalidError, parseConfig } from '../../../config/load.js';

const ENV = 'WICKET_TEST_APIKEY_CHECK_SECRET';
const dir = mkdtempSync(join(tmpdir(), 'wicket-apikey-check-'));
const file = join(dir, 'gateway.yaml');

function errors(auth: string, route = '{ methods: [ { apiKey: {} } ] }'): string[] {
  const text = `listen: { http: { host: 127.0.0.1, port: 8080 } }\n${auth}\nupstreams:\n  u: { targets: [{ url: "http://127.0.0.1:9" }] }\nroutes:\n  - name: r\n    match: { path: "/*" }\n    upstream: u\n    auth: ${route}\n`;
  try {
    parseConfig(text, file);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigInvalidError)) throw err;
    return err.errors.map((e) => `${e.path}: ${e.message}`);
  }
}

test('apiKey config checks', () => {
  delete process.env[ENV];
  assert.deepEqual(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV}, file: keys.json }`), [`auth.apiKey.hashSecretEnv: the environment variable ${ENV} is not set (the API-key hash secret)`]);
  process.env[ENV] = 'x'.repeat(40);
  assert.deepEqual(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV}, file: keys.json }`), []);
  assert.deepEqual(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV} }`), ['auth.apiKey: exactly one key store: file or redis']);
  assert.deepEqual(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV}, file: k.json, redis: { url: "redis://127.0.0.1:6379" } }`), ['auth.apiKey: exactly one key store: file or redis']);
  assert.deepEqual(errors(''), ['routes[0].auth.methods[0].apiKey: apiKey needs the top-level auth.apiKey section (its key store)']);
  writeFileSync(join(dir, 'bad.json'), '[]');
  assert.deepEqual(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV}, file: bad.json }`), [`auth.apiKey.file: ${join(dir, 'bad.json')}: not an API-key store (/: must be object)`]);
  assert.match(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV}, file: nowhere/keys.json }`)[0]!, /^auth\.apiKey\.file: .*ENOENT/);
  assert.match(errors(`auth:\n  apiKey: { hashSecretEnv: ${ENV}, file: keys.json }`, '{ methods: [ { apiKey: { header: X-Key } } ] }')[0]!, /^routes\[0\]\.auth\.methods\[0\]\.apiKey\.header/);
  delete process.env[ENV];
  rmSync(dir, { recursive: true });
});
