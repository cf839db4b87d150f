// The README's example config (the first ```yaml block under
// "## Configuration") must be a config Wicket accepts: the files it names
// (TLS certificate and key) are replaced by files made here, then the built
// CLI's `wicket validate` and parseConfig must both take it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { CLI, ROOT } from './helpers/gateway.js';

/** The first ```yaml block after the "## Configuration" heading. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const heading = readme.search(/^## Configuration\s*$/m);
  assert.ok(heading >= 0, 'README.md has a "## Configuration" heading');
  const open = readme.slice(heading).match(/^```ya?ml\s*\n/m);
  assert.ok(open?.index !== undefined, 'a ```yaml block follows "## Configuration"');
  const start = heading + open.index + open[0].length;
  const end = readme.indexOf('\n```', start - 1);
  assert.ok(end > start, 'the ```yaml block is closed');
  return readme.slice(start, end + 1);
}

/** Absolute file paths the config names: values of file-ish keys, or anything that looks like a PEM/key file. */
function filePaths(node: unknown, key = '', out = new Set<string>()): Set<string> {
  if (typeof node === 'string') {
    if (node.startsWith('/') && (/^(cert|key|ca|file)$/i.test(key) || /\.(pem|crt|key|cert)$/.test(node))) out.add(node);
  } else if (Array.isArray(node)) {
    for (const v of node) filePaths(v, key, out);
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) filePaths(v, k, out);
  }
  return out;
}

/** A self-signed certificate for 127.0.0.1 (openssl, as test/http2.test.ts). */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore', timeout: 30_000 });
  return { cert, key };
}

/** The example with every file it names replaced by one in `dir` (written to `dir/gateway.yaml`). */
function localizedExample(dir: string): { file: string; text: string; data: Record<string, unknown> } {
  let text = readmeExample();
  const data = parse(text) as Record<string, unknown>;
  assert.ok(data !== null && typeof data === 'object', 'the example is a YAML mapping');
  const https = (data.listen as { https?: { cert?: string; key?: string } } | undefined)?.https;
  const tls = https ? selfSigned(dir) : undefined;
  for (const p of filePaths(data)) {
    let local: string;
    if (tls && p === https?.cert) local = tls.cert;
    else if (tls && p === https?.key) local = tls.key;
    else {
      local = join(dir, `other-${basename(p)}`);
      writeFileSync(local, '');
    }
    text = text.split(p).join(local);
  }
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, text);
  return { file, text, data };
}

/** The environment without WICKET_* overrides: validate the file alone. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WICKET_')));
}

test('the README example names files that the test replaces', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { text, data } = localizedExample(dir);
  for (const p of filePaths(data)) assert.ok(!text.includes(p), `${p} still in the example`);
});

test('`wicket validate` accepts the README example config', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { file } = localizedExample(dir);
  const r = spawnSync(process.execPath, [CLI, 'validate', file], { env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `wicket validate exited ${r.status}:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^ok: /);
});

test('parseConfig accepts the README example config', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { file, text, data } = localizedExample(dir);
  const cfg = parseConfig(text, file, {});
  const routes = (data.routes as { name: string }[]).map((r) => r.name);
  assert.deepEqual(cfg.routes.map((r) => r.name).sort(), [...routes].sort());
  assert.deepEqual(Object.keys(cfg.upstreams).sort(), Object.keys(data.upstreams as object).sort());
});

test('the "Identity and access" example is a config Wicket accepts (with listeners and upstreams added)', (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const heading = readme.search(/^### Identity and access\s*$/m);
  assert.ok(heading >= 0);
  const open = readme.slice(heading).match(/^```ya?ml\s*\n/m)!;
  const start = heading + open.index! + open[0].length;
  const block = readme.slice(start, readme.indexOf('\n```', start) + 1);
  const text = `listen: { http: { port: 8080 } }\nupstreams:\n  api: { targets: [ { url: "http://127.0.0.1:9001" } ] }\n  web: { targets: [ { url: "http://127.0.0.1:9002" } ] }\n${block}`;
  // The secrets the example names come from the environment (checked at load).
  const env = { IDP_SECRET: 'x'.repeat(16), OIDC_SECRET: 'y'.repeat(16), OIDC_COOKIE_KEY: 'z'.repeat(40) };
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  t.after(() => {
    for (const k of Object.keys(env)) delete process.env[k];
  });
  const cfg = parseConfig(text, join(tmpdir(), 'identity-example.yaml'), {});
  assert.deepEqual(cfg.routes.map((r) => r.name), ['reports', 'app']);
});
