// Segments with the real addon: POSIX shared memory shared by name. The
// "in use" case needs a live owner that is not this process (a segment owned
// by our own pid counts as left over from an earlier run), so a child creates it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { AddonMissingError, loadAddon } from './addon.js';
import { H_MAGIC, H_OWNER_PID, H_READY, H_TABLE_CELLS, H_VERSION, LAYOUT_VERSION, MAGIC, type Capacity } from './layout.js';
import { SegmentError, attachSegment, createSegment, segmentName, unlinkSegment } from './segment.js';

const cap: Capacity = { targets: 4, upstreams: 2, workerSlots: 2, tableCells: 256 };
const names: string[] = [];
let n = 0;
const uniq = (): string => {
  const name = `/wicket-test-${process.pid}-${n++}`;
  names.push(name);
  return name;
};

after(() => {
  for (const name of names) unlinkSegment(name);
});

/** A segment with a valid-looking header, written through the bare addon. */
function fake(name: string, header: { magic?: number; version?: number; pid?: number; ready?: number }): Int32Array {
  const h = new Int32Array(loadAddon().create(name, 4096), 0, 16);
  h[H_MAGIC] = header.magic ?? MAGIC;
  h[H_VERSION] = header.version ?? LAYOUT_VERSION;
  h[H_OWNER_PID] = header.pid ?? 0;
  h[H_READY] = header.ready ?? 1;
  return h;
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

describe('segments', () => {
  test('create, attach by name (same memory), unlink', () => {
    const name = uniq();
    const { segment, replaced } = createSegment(name, cap);
    assert.equal(replaced, null);
    const other = attachSegment(name);
    assert.deepEqual(other.layout, segment.layout);
    assert.equal(other.epoch, segment.epoch);
    const a = new Int32Array(segment.sab);
    const b = new Int32Array(other.sab);
    Atomics.add(a, 100, 7);
    assert.equal(Atomics.load(b, 100), 7, 'two mappings of one object');
    assert.equal(unlinkSegment(name), true);
    assert.equal(unlinkSegment(name), false);
    assert.throws(() => attachSegment(name), { code: 'ENOENT' });
    assert.equal(segmentName('my gw/1'), '/wicket-my_gw_1');
  });

  test('a segment whose owner is a live gateway is not taken over', async () => {
    const name = uniq();
    const url = new URL('./segment.js', import.meta.url).href;
    const code = `import { createSegment } from ${JSON.stringify(url)};
      createSegment(${JSON.stringify(name)}, ${JSON.stringify(cap)}); console.log('ready'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(child.stdout!, 'data')) as [Buffer];
      assert.equal(line.toString().trim(), 'ready');
      assert.throws(
        () => createSegment(name, cap),
        (err: unknown) => err instanceof SegmentError && err.code === 'WICKET_ERR_SHM_IN_USE' && err.message.includes(`pid ${child.pid}`),
      );
      assert.equal(attachSegment(name).layout.tableCells, cap.tableCells, 'still intact');
    } finally {
      child.kill('SIGKILL');
    }
    await once(child, 'exit');
    const { replaced } = createSegment(name, cap);
    assert.equal(replaced, `owner pid ${child.pid} is gone`);
  });

  test('a stale or foreign segment is replaced and `replaced` says why', async () => {
    const cases: [header: Parameters<typeof fake>[1] | 'zeros', why: RegExp][] = [
      ['zeros', /bad magic/],
      [{ version: 99, pid: process.ppid }, /layout version 99/],
      [{ pid: await deadPid() }, /owner pid \d+ is gone/],
      [{ pid: process.pid }, new RegExp(`owner pid ${process.pid} is gone`)], // left by an earlier run of ours
    ];
    for (const [header, why] of cases) {
      const name = uniq();
      if (header === 'zeros') loadAddon().create(name, 4096);
      else fake(name, header);
      const { segment, replaced } = createSegment(name, cap);
      assert.match(replaced ?? 'null', why);
      assert.equal(segment.sab.byteLength, segment.layout.bytes, 'recreated at the new size');
      assert.equal(attachSegment(name).epoch, segment.epoch);
    }
  });

  test('attaching to something that is not a ready segment throws WICKET_ERR_SHM_INVALID', () => {
    const invalid = (why: RegExp) => (err: unknown) =>
      err instanceof SegmentError && err.code === 'WICKET_ERR_SHM_INVALID' && why.test(err.message);
    const garbage = uniq();
    new Uint8Array(loadAddon().create(garbage, 4096)).fill(0xa5);
    assert.throws(() => attachSegment(garbage), invalid(/not a wicket segment/));
    const old = uniq();
    fake(old, { version: LAYOUT_VERSION + 1 });
    assert.throws(() => attachSegment(old), invalid(/layout version/));
    const unready = uniq();
    fake(unready, { ready: 0 });
    assert.throws(() => attachSegment(unready), invalid(/not initialised/));
    const wrongSize = uniq();
    createSegment(wrongSize, cap);
    new Int32Array(attachSegment(wrongSize).sab)[H_TABLE_CELLS] = cap.tableCells * 2;
    assert.throws(() => attachSegment(wrongSize), invalid(/size/));
  });

  test('a missing addon is a clear error', () => {
    assert.throws(
      () => loadAddon('/nonexistent.node'),
      (err: unknown) => err instanceof AddonMissingError && err.code === 'WICKET_ERR_SHM_ADDON' && /npm install/.test(err.message),
    );
  });
});
