import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { describe as describeError } from '../../errors.js';
import { runBackendContract } from '../../testing/backend-contract.js';
import { type FileInfo, type FileType, UNFINISHED_AGE_MS } from '../backend.js';
import { createLocalBackend, LocalBackend } from './local-backend.js';

runBackendContract('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-local-'));
  // A root that does not exist yet: create() must make it.
  return {
    backend: createLocalBackend(join(dir, 'repo')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

async function scratch(): Promise<{ dir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-local-'));
  return { dir, done: () => rm(dir, { recursive: true, force: true }) };
}

async function listNames(b: LocalBackend, type: FileType): Promise<string[]> {
  const out: FileInfo[] = [];
  for await (const f of b.list(type)) out.push(f);
  return out.map((f) => f.name).sort();
}

const PACK = '3fa2c1e9' + 'ab'.repeat(28);

test('local: layout on disk', async () => {
  const { dir, done } = await scratch();
  try {
    const b = new LocalBackend(dir);
    await b.create();
    for (const d of ['keys', 'locks', 'snapshots', 'index', 'data', 'data/00', 'data/ff']) {
      assert.ok((await stat(join(dir, d))).isDirectory(), d);
    }
    await b.save({ type: 'pack', name: PACK }, Buffer.from('pack'));
    await b.save({ type: 'config', name: 'ignored' }, Buffer.from('cfg'));
    assert.equal((await stat(join(dir, 'data', '3f', PACK))).size, 4);
    assert.equal((await stat(join(dir, 'config'))).size, 3);
  } finally {
    await done();
  }
});

test('local: temp and hidden files are not listed', async () => {
  const { dir, done } = await scratch();
  try {
    const b = new LocalBackend(dir);
    await b.create();
    await b.save({ type: 'key', name: 'k1' }, Buffer.from('k'));
    await b.save({ type: 'pack', name: PACK }, Buffer.from('p'));
    await writeFile(join(dir, 'keys', '.tmp-0011223344556677'), 'partial');
    await writeFile(join(dir, 'data', '3f', '.tmp-8899aabbccddeeff'), 'partial');
    await mkdir(join(dir, 'data', '.tmp-dir'));
    await writeFile(join(dir, 'data', '.tmp-dir', 'x'), 'x');
    assert.deepEqual(await listNames(b, 'key'), ['k1']);
    assert.deepEqual(await listNames(b, 'pack'), [PACK]);
  } finally {
    await done();
  }
});

test('local: removeUnfinished drops leftovers, but the temp files of WAL and locks only once old', async () => {
  const { dir, done } = await scratch();
  try {
    const b = new LocalBackend(dir);
    await b.create();
    await b.save({ type: 'pack', name: PACK }, Buffer.from('p'));
    const leftovers = {
      pack: join(dir, 'data', '3f', '.tmp-8899aabbccddeeff'),
      index: join(dir, 'index', '.tmp-0011223344556677'),
      walNew: join(dir, 'wal', '.tmp-1111111111111111'),
      lockNew: join(dir, 'locks', '.tmp-2222222222222222'),
      walOld: join(dir, 'wal', '.tmp-3333333333333333'),
      lockOld: join(dir, 'locks', '.tmp-4444444444444444'),
    };
    for (const path of Object.values(leftovers)) await writeFile(path, 'partial');
    // Saves of WAL objects and locks go on under prune's lock: only old ones are leftovers.
    const old = new Date(Date.now() - UNFINISHED_AGE_MS - 60_000);
    for (const path of [leftovers.walOld, leftovers.lockOld]) await utimes(path, old, old);
    assert.equal(await b.removeUnfinished(), 4 * 'partial'.length);
    const left = async (path: string) =>
      stat(path).then(
        () => true,
        () => false,
      );
    assert.deepEqual(
      Object.fromEntries(
        await Promise.all(Object.entries(leftovers).map(async ([k, p]) => [k, await left(p)])),
      ),
      { pack: false, index: false, walNew: true, lockNew: true, walOld: false, lockOld: false },
    );
    assert.deepEqual(await listNames(b, 'pack'), [PACK]);
  } finally {
    await done();
  }
});

test('local: no repository at the path', async () => {
  const { dir, done } = await scratch();
  try {
    const b = new LocalBackend(join(dir, 'missing'));
    await assert.rejects(b.load({ type: 'config', name: 'config' }), { code: 'not_found' });
    assert.deepEqual(await listNames(b, 'snapshot'), []);
    await assert.rejects(b.save({ type: 'key', name: 'k1' }, Buffer.from('k')), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'storage_failed');
      assert.match(err.message, /^\[storage:local\] unable to write key k1: no repository folder at /);
      return true;
    });
    await assert.rejects(stat(join(dir, 'missing')), { code: 'ENOENT' });
  } finally {
    await done();
  }
});

test('local: a removed data/xx folder is recreated on save', async () => {
  const { dir, done } = await scratch();
  try {
    const b = new LocalBackend(dir);
    await b.create();
    await rm(join(dir, 'data', '3f'), { recursive: true });
    await b.save({ type: 'pack', name: PACK }, Buffer.from('p'));
    assert.deepEqual(await listNames(b, 'pack'), [PACK]);
  } finally {
    await done();
  }
});

test('local: location is absolute; names that escape the folder are refused', async () => {
  const b = createLocalBackend('relative/repo');
  assert.equal(b.location, resolve('relative/repo'));
  for (const name of ['../x', 'a/b', '.tmp-1', '']) {
    await assert.rejects(b.save({ type: 'key', name }, Buffer.from('x')), { code: 'internal' }, name);
  }
});

test('local: freeSpace reports the bytes available', async () => {
  const { dir, done } = await scratch();
  try {
    const free = await new LocalBackend(dir).freeSpace();
    assert.ok(Number.isFinite(free) && free > 0, String(free));
  } finally {
    await done();
  }
});

test('local: a save that runs out of space fails cleanly (1 MiB tmpfs)', async (t) => {
  const { dir, done } = await scratch();
  try {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (err) {
      const reason = `cannot mount a tmpfs (needs root): ${describeError(err).split('\n')[0]}`;
      console.log(`SKIPPED local no_space test: ${reason}`);
      t.skip(reason);
      return;
    }
    try {
      const b = new LocalBackend(dir);
      await b.create();
      const h = { type: 'pack' as const, name: PACK };
      const old = randomBytes(256 * 1024);
      await b.save(h, old);
      await assert.rejects(b.save(h, randomBytes(2 * 1024 * 1024)), (err: Error) => {
        assert.equal((err as { code?: string }).code, 'no_space');
        assert.equal(
          err.message,
          `[storage:local] unable to write pack 3fa2c1e9 at ${dir}: disk full (free space or move the repository)`,
        );
        return true;
      });
      assert.deepEqual(await readdir(join(dir, 'data', '3f')), [PACK]);
      assert.deepEqual(await b.load(h), old);
      const fresh = { type: 'index' as const, name: 'i1' };
      await assert.rejects(b.save(fresh, randomBytes(2 * 1024 * 1024)), { code: 'no_space' });
      await assert.rejects(b.stat(fresh), { code: 'not_found' });
      assert.deepEqual(await readdir(join(dir, 'index')), []);
      // The temp file's space came back: a small save still fits.
      await b.save(fresh, Buffer.from('small'));
    } finally {
      execFileSync('umount', [dir]);
    }
  } finally {
    await done();
  }
});

test('local: pack files stay open for ranged reads, within bounds, and a removed pack is not found', async () => {
  const { dir, done } = await scratch();
  const fds = async () => (await readdir('/proc/self/fd')).length;
  try {
    const b = new LocalBackend(dir);
    await b.create();
    const before = await fds();
    const packs = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(2, '0') + 'cd'.repeat(31));
    const data = packs.map(() => randomBytes(4096));
    for (const [i, name] of packs.entries()) await b.save({ type: 'pack', name }, data[i]);
    // Concurrent reads of many packs: each range is right, and few files are held open.
    const reads = packs.flatMap((name, i) =>
      [0, 1000, 3000].map(async (at) => {
        const got = await b.load({ type: 'pack', name }, at, 96);
        assert.deepEqual(got, data[i].subarray(at, at + 96));
      }),
    );
    await Promise.all(reads);
    assert.ok((await fds()) - before <= 16, `${(await fds()) - before} files open`);
    // Removed (by the backend, or by hand): the next read names the pack as not found.
    await b.remove({ type: 'pack', name: packs[39] });
    await assert.rejects(
      b.load({ type: 'pack', name: packs[39] }, 0, 10),
      (err: Error) => err.message.includes(packs[39].slice(0, 8)) && err.message.includes('not found'),
    );
    await b.close();
    assert.equal(await fds(), before);
    await rm(join(dir, 'data', packs[0].slice(0, 2), packs[0]), { force: true });
    await assert.rejects(b.load({ type: 'pack', name: packs[0] }, 0, 10), { code: 'not_found' });
    assert.deepEqual(await b.load({ type: 'pack', name: packs[1] }, 5, 7), data[1].subarray(5, 12));
    await b.close();
    assert.equal(await fds(), before);
  } finally {
    await done();
  }
});
