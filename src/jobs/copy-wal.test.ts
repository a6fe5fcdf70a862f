import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RepoContentStore } from '../repo/content-store.js';
import { listObjects } from '../repo/object-archive.js';
import { partsOf } from '../repo/repo-parts.js';
import { Repository } from '../repo/repository.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { runCopy } from './copy.js';
import { fetchWal } from './wal-fetch.js';
import { pushWal } from './wal-push.js';

const kdf = { kdf: { N: 1024, r: 8, p: 1 } };

test('copy carries the archived WAL of the physical sources it copies, once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-copy-wal-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const src = await Repository.init(createLocalBackend(join(dir, 'src')), 'pw', kdf);
  const dst = await Repository.init(createLocalBackend(join(dir, 'dst')), 'pw2', kdf);
  const pgWal = join(dir, 'pg_wal');
  await mkdir(join(pgWal, 'archive_status'), { recursive: true });
  const files = new Map<string, Buffer>();
  for (const name of ['000000010000000000000003', '000000010000000000000004', '00000002.history']) {
    files.set(name, Buffer.concat([randomBytes(4096), Buffer.alloc(4096)]));
    await writeFile(join(pgWal, name), files.get(name) as Buffer);
    await pushWal(src, 'db', join(pgWal, name), { batch: false });
  }
  // Another source's WAL stays behind: only physical sources being copied bring theirs.
  await writeFile(join(pgWal, '000000010000000000000009'), randomBytes(100));
  await pushWal(src, 'other', join(pgWal, '000000010000000000000009'), { batch: false });
  // A physical snapshot of "db" (an empty base backup is enough for copy).
  const root = await new RepoContentStore(src).saveTree({ nodes: [] });
  await src.flush();
  await src.saveSnapshot({
    version: 1,
    time: '2026-11-24T10:00:00.000Z',
    source: 'db',
    engine: 'postgres',
    kind: 'physical',
    host: 'h',
    username: 'u',
    tags: [],
    programVersion: '0',
    root,
    stats: {},
    meta: { startWal: '000000010000000000000003', endTime: '2026-11-24T10:00:01.000Z' },
    sourceConfig: {},
  });

  const first = await runCopy(src, dst, { snapshots: 'all' });
  assert.equal(first.walCopied, 3);
  assert.deepEqual(
    (await listObjects(partsOf(dst).backend, partsOf(dst).key, 'db')).map((f) => f.name).sort(),
    [...files.keys()].sort(),
  );
  assert.equal((await listObjects(partsOf(dst).backend, partsOf(dst).key, 'other')).length, 0);
  for (const [name, data] of files) {
    const out = join(dir, `out-${name}`);
    assert.equal(await fetchWal(dst, 'db', name, out), true, name);
    assert.ok((await readFile(out)).equals(data), name);
  }
  const again = await runCopy(src, dst, { snapshots: 'all' });
  assert.equal(again.walCopied, 0, 'what the destination has is not sent again');
});
