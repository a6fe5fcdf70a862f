import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TestClock } from '../clock.js';
import { runReencrypt, runRetire, runRotate } from '../repo/maintenance/rekey.js';
import {
  assemble,
  readObjectHeader as readWalHeader,
  resealObject as resealWalObject,
  verifyObject as verifyWalObject,
  archivedObjectName as walObjectName,
} from '../repo/object-archive.js';
import { partsOf } from '../repo/repo-parts.js';
import { Repository } from '../repo/repository.js';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { ACK_SUFFIX, PREFETCH_DIR, stampBoot } from '../sources/postgres/wal-dir.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { recoveryWindow } from './pitr.js';
import { fetchToFile, fetchWal } from './wal-fetch.js';
import { runFetchAgent } from './wal-fetch-agent.js';
import { pushWal } from './wal-push.js';

function entry(
  id: string,
  kind: Snapshot['kind'],
  time: string,
  meta: Record<string, unknown> = {},
): SnapshotEntry {
  return {
    id,
    snapshot: {
      version: 1,
      time,
      source: 'db',
      engine: 'postgres',
      kind,
      host: 'h',
      username: 'u',
      tags: [],
      programVersion: '0',
      root: 'r',
      stats: {},
      meta,
      sourceConfig: {},
    },
  };
}

async function scratch(): Promise<{ repo: Repository; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lb-wal-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const repo = await Repository.init(createLocalBackend(join(dir, 'repo')), 'pw', {
    kdf: { N: 1024, r: 8, p: 1 },
  });
  await mkdir(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
  return { repo, dir };
}

/** A WAL-like file: part random, part zeros (the size is kept small for speed). */
async function walFile(dir: string, name: string, size = 64 * 1024): Promise<Buffer> {
  const data = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size / 2)]);
  await writeFile(join(dir, 'pg_wal', name), data);
  return data;
}

test('push stores a WAL file by name, fetch returns the same bytes, a missing name is false', async () => {
  const { repo, dir } = await scratch();
  const name = '000000010000000000000003';
  const data = await walFile(dir, name, 9 * 1024 * 1024); // three frames
  const r = await pushWal(repo, 'payroll', join(dir, 'pg_wal', name));
  assert.equal(r.pushed.result, 'stored');
  assert.equal((await pushWal(repo, 'payroll', join(dir, 'pg_wal', name))).pushed.result, 'already');
  const out = join(dir, 'RECOVERYXLOG');
  assert.equal(await fetchWal(repo, 'payroll', name, out), true);
  assert.ok((await readFile(out)).equals(data));
  // Opened in a worker (as a restore seeds its first segments): the same bytes.
  const pooled = join(dir, 'pooled');
  assert.equal(await fetchToFile(repo, 'payroll', name, pooled, { pool: repo.openers() }), true);
  assert.ok((await readFile(pooled)).equals(data), 'opened in a worker');
  await repo.close();
  assert.equal(await fetchWal(repo, 'other-source', name, out), false);
  assert.equal(await fetchWal(repo, 'payroll', '000000010000000000000004', out), false);
  // The object's name hides the source; its bytes hide the content.
  const [object] = await readdir(join(dir, 'repo', 'wal'));
  assert.ok(!object.includes('payroll') && object.endsWith(`-${name}`), object);
  const stored = await readFile(join(dir, 'repo', 'wal', object));
  assert.ok(!stored.includes(data.subarray(0, 64)), 'plaintext in the repository');
});

test('pushing a name again with other bytes is refused; a flipped byte fails the fetch', async () => {
  const { repo, dir } = await scratch();
  const name = '000000010000000000000003';
  await walFile(dir, name);
  await pushWal(repo, 'db', join(dir, 'pg_wal', name));
  const original = await readFile(join(dir, 'pg_wal', name));
  await walFile(dir, name);
  await assert.rejects(pushWal(repo, 'db', join(dir, 'pg_wal', name)), /different content/);
  // The bytes are compared, not a digest: the last byte, or a longer file, is a difference.
  const lastByte = Buffer.from(original);
  lastByte[lastByte.length - 1] ^= 1;
  for (const other of [lastByte, Buffer.concat([original, Buffer.alloc(1)])]) {
    await writeFile(join(dir, 'pg_wal', name), other);
    await assert.rejects(pushWal(repo, 'db', join(dir, 'pg_wal', name)), /different content/);
  }
  await writeFile(join(dir, 'pg_wal', name), original);
  assert.equal((await pushWal(repo, 'db', join(dir, 'pg_wal', name))).pushed.result, 'already');
  const [object] = await readdir(join(dir, 'repo', 'wal'));
  const path = join(dir, 'repo', 'wal', object);
  const bytes = await readFile(path);
  bytes[bytes.length - 100] ^= 1;
  await writeFile(path, bytes);
  await assert.rejects(fetchWal(repo, 'db', name, join(dir, 'out')), /damaged/);
  await assert.rejects(readFile(join(dir, 'out')), /ENOENT/, 'nothing half-written');
  await assert.rejects(fetchToFile(repo, 'db', name, join(dir, 'out'), { pool: repo.openers() }), (err) => {
    assert.equal((err as { code?: string }).code, 'integrity', String(err));
    return /damaged/.test(String(err));
  });
  await repo.close();
  await assert.rejects(readFile(join(dir, 'out')), /ENOENT/, 'nothing half-written by a worker either');
});

test('a version 1 object (with its SHA-256) still opens, and a wrong SHA-256 is reported', async () => {
  const { repo, dir } = await scratch();
  const name = '000000010000000000000007';
  const data = await walFile(dir, name, 5 * 1024 * 1024); // two frames
  await pushWal(repo, 'db', join(dir, 'pg_wal', name), { batch: false });
  const object = walObjectName(partsOf(repo).key, 'db', name);
  const stored = await partsOf(repo).backend.load({ type: 'wal', name: object });
  const header = await readWalHeader(partsOf(repo).backend, partsOf(repo).key, object);
  assert.equal(header.version, 2);
  assert.equal(header.sha256, undefined);
  // Frames are sealed independently of the header: keep them, write a version 1 header.
  const frames: Buffer[] = [];
  for (let at = 4 + stored.readUInt32LE(0); at < stored.length; ) {
    const len = stored.readUInt32LE(at);
    frames.push(stored.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  const digest = (parts: Buffer[]) =>
    createHash('sha256')
      .update(Buffer.concat(parts.map((p) => createHash('sha256').update(p).digest())))
      .digest('hex');
  const halves = [data.subarray(0, 4 * 1024 * 1024), data.subarray(4 * 1024 * 1024)];
  for (const [sha256, ok] of [
    [digest(halves), true],
    [digest([data]), false],
  ] as const) {
    const v1 = assemble(partsOf(repo).key, object, { ...header, version: 1, sha256 }, frames);
    if (ok) assert.equal(verifyWalObject(partsOf(repo).key, object, v1).sha256, sha256);
    else
      assert.throws(
        () => verifyWalObject(partsOf(repo).key, object, v1),
        /does not match its recorded SHA-256/,
      );
  }
});

test('a push also stores the other ready files and acknowledges them', async () => {
  const { repo, dir } = await scratch();
  const names = ['000000010000000000000003', '000000010000000000000004', '000000010000000000000005'];
  for (const n of names) {
    await walFile(dir, n);
    await writeFile(join(dir, 'pg_wal', 'archive_status', `${n}.ready`), '');
  }
  const r = await pushWal(repo, 'db', join(dir, 'pg_wal', names[0]));
  assert.deepEqual(r.others.map((o) => o.name).sort(), names.slice(1));
  const status = await readdir(join(dir, 'pg_wal', 'archive_status'));
  assert.deepEqual(
    status.filter((n) => n.endsWith(ACK_SUFFIX)).sort(),
    names.slice(1).map((n) => `${n}${ACK_SUFFIX}`),
  );
  assert.equal((await readdir(join(dir, 'repo', 'wal'))).length, 3);
});

test('the fetch agent answers requests, says which names are absent, and fetches ahead', async () => {
  const { repo, dir } = await scratch();
  const names = ['000000010000000000000003', '000000010000000000000004', '000000010000000000000005'];
  for (const n of names) {
    await walFile(dir, n);
    await pushWal(repo, 'db', join(dir, 'pg_wal', n), { batch: false });
  }
  const pgWal = join(dir, 'pg_wal');
  const pf = join(pgWal, PREFETCH_DIR);
  await mkdir(pf);
  await writeFile(join(dir, 'recovery.signal'), '');
  // The clock moves only when told: each step wakes the agent's polling loop once, and the
  // probe made after recovery.signal is gone is answered within its linger time.
  const clock = new TestClock();
  // Never idle here: the test clock may run ahead of the agent's work, and an agent that left
  // for idleness would leave the waits below waiting for nothing.
  const agent = runFetchAgent(repo, 'db', pgWal, { ahead: 1, lingerMs: 2000, idleMs: 3_600_000, clock });
  // An agent that ended (or failed) sleeps no more: waiting for it would hang, not fail.
  let outcome = 'running';
  const ended = agent.then(
    () => {
      outcome = 'ended';
    },
    (err) => {
      outcome = `failed: ${err}`;
    },
  );
  const idle = () => Promise.race([clock.sleeping(), ended]);
  const waitFor = async (file: string) => {
    for (let i = 0; i < 10_000 && !(await readdir(pf)).includes(file); i++) {
      await idle();
      clock.tick(10);
    }
    return (await readdir(pf)).includes(file);
  };
  await writeFile(join(pf, '.want-00000002.history'), '');
  assert.ok(await waitFor('.absent-00000002.history'));
  await writeFile(join(pf, `.want-${names[0]}`), '');
  assert.ok(await waitFor(names[0]));
  assert.ok((await readFile(join(pf, names[0]))).equals(await readFile(join(pgWal, names[0]))));
  assert.ok(await waitFor(names[1]), 'fetched ahead');
  assert.equal(await fetchWal(repo, 'db', names[1], join(pgWal, 'RECOVERYXLOG')), true);
  assert.ok(await waitFor(names[2]), `taking a prefetched file moves the window on (agent ${outcome})`);
  await rm(join(dir, 'recovery.signal'));
  // PostgreSQL probes history files after it removed recovery.signal: still answered.
  await writeFile(join(pf, '.want-00000001.history'), '');
  assert.ok(await waitFor('.absent-00000001.history'));
  // Recovery ended: once the linger time has passed, the agent leaves and takes its folder.
  await Promise.race([clock.sleeping(), ended]);
  clock.tick(2001);
  await agent;
  await assert.rejects(readdir(pf), /ENOENT/);
});

test('prefetched files from another boot are not served (they were written without fsync)', async () => {
  const { repo, dir } = await scratch();
  const name = '000000010000000000000003';
  const data = await walFile(dir, name);
  await pushWal(repo, 'db', join(dir, 'pg_wal', name), { batch: false });
  const pf = join(dir, 'pg_wal', PREFETCH_DIR);
  await mkdir(pf);
  await writeFile(join(pf, name), Buffer.alloc(data.length)); // as if torn by a crash
  await writeFile(join(pf, 'boot'), 'an-earlier-boot\n');
  const out = join(dir, 'pg_wal', 'RECOVERYXLOG');
  assert.equal(await fetchWal(repo, 'db', name, out), true);
  assert.ok((await readFile(out)).equals(data), 'fetched from the repository');
  await assert.rejects(readdir(pf), /ENOENT/, 'the stale folder is removed');
  // Stamped with this boot, the same folder is trusted.
  await mkdir(pf);
  await stampBoot(pf);
  await writeFile(join(pf, name), data);
  await rm(out);
  assert.equal(await fetchWal(repo, 'other-source', name, out), true, 'served from the folder');
});

test('the window ends at the first gap after the oldest base backup, and the gap is named', async () => {
  const { repo, dir } = await scratch();
  const base = entry('a', 'physical', '2026-01-01T00:00:00Z', {
    endTime: '2026-01-01T00:01:00Z',
    startWal: '000000010000000000000003',
  });
  for (const n of ['000000010000000000000003', '000000010000000000000004', '000000010000000000000007']) {
    await walFile(dir, n);
    await pushWal(repo, 'db', join(dir, 'pg_wal', n), { batch: false });
  }
  const w = await recoveryWindow(repo, [base], 'db');
  assert.equal(w.from, '2026-01-01T00:01:00Z');
  assert.equal(w.wal, 3);
  assert.deepEqual(w.gaps, [{ first: '000000010000000000000005', count: 2 }]);
  assert.ok(w.to, 'the window ends at segment 4');
});

test('key rotation re-seals WAL objects, the old epoch retires, and a copy opens in another repository', async () => {
  const { repo, dir } = await scratch();
  const name = '000000010000000000000003';
  const data = await walFile(dir, name, 5 * 1024 * 1024); // two frames
  await pushWal(repo, 'db', join(dir, 'pg_wal', name), { batch: false });
  const object = walObjectName(partsOf(repo).key, 'db', name);
  assert.equal(await repo.epochOf('wal', object), 0);
  await runRotate(repo);
  const r = await runReencrypt(repo);
  assert.equal(r.wal, 1);
  assert.equal(await repo.epochOf('wal', object), 1);
  await runRetire(repo, 0);
  const out = join(dir, 'after-rotation');
  assert.equal(await fetchWal(repo, 'db', name, out), true);
  assert.ok((await readFile(out)).equals(data));

  const other = await Repository.init(createLocalBackend(join(dir, 'other')), 'pw2', {
    kdf: { N: 1024, r: 8, p: 1 },
  });
  const target = walObjectName(partsOf(other).key, 'db', name);
  assert.notEqual(target, object, 'each repository has its own source tag');
  const stored = await partsOf(repo).backend.load({ type: 'wal', name: object });
  await partsOf(other).backend.save(
    { type: 'wal', name: target },
    resealWalObject(partsOf(repo).key, object, stored, { keys: partsOf(other).key, object: target }),
  );
  assert.equal(await fetchWal(other, 'db', name, join(dir, 'copied')), true);
  assert.ok((await readFile(join(dir, 'copied'))).equals(data));
  // Sealed for the other repository, it does not open here under either name.
  await assert.rejects(async () =>
    verifyWalObject(
      partsOf(repo).key,
      target,
      await partsOf(other).backend.load({ type: 'wal', name: target }),
    ),
  );
});
