import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// A child process, so the command's stdout/stderr never mix with the test reporter's.
const MODULE = new URL('./validate-command.js', import.meta.url).href;
const EXAMPLE = fileURLToPath(new URL('../../../config/gateway.yaml', import.meta.url));

function run(file: string) {
  const script = `import { validateCommand } from ${JSON.stringify(MODULE)};\nprocess.exitCode = await validateCommand(process.argv[1]);`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WICKET_')));
  return spawnSync(process.execPath, ['--input-type=module', '-e', script, file], { encoding: 'utf8', env });
}

test('validate: ok line and status 0 for a good file', () => {
  const r = run(EXAMPLE);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `ok: ${EXAMPLE} (3 routes, 2 upstreams)\n`);
  assert.equal(r.stderr, '');
});

test('validate: one stderr line per error and status 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wicket-validate-'));
  try {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'listen: { http: { port: 1 } }\nroutes:\n  - name: a\n    match: { path: /a }\n    upstream: nope\nextra: 1\n');
    const r = run(file);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      `${file}: routes[0].upstream: unknown upstream "nope" (line 5)`,
      `${file}: extra: unknown key "extra" (line 6)`,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
