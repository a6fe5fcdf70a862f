import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { conflicts, type LockInfo } from './lock.js';
import { Repository } from './repository.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const lock = (o: Partial<LockInfo>): LockInfo => ({
  name: 'x',
  exclusive: false,
  operation: 'op',
  host: 'h',
  pid: 1,
  created: '',
  time: '',
  ...o,
});

test('which locks keep which from being taken', () => {
  const shared = lock({});
  const wal = lock({ scope: 'wal' });
  const prune = lock({ exclusive: true, walAllowed: true });
  const rotate = lock({ exclusive: true });
  const damaged = lock({ damaged: true });
  const cases: [string, LockInfo, LockInfo, boolean][] = [
    ['shared beside shared', shared, shared, false],
    ['wal beside shared', wal, shared, false],
    ['shared beside prune', shared, prune, true],
    ['wal beside prune', wal, prune, false],
    ['prune beside wal', prune, wal, false],
    ['prune beside shared', prune, shared, true],
    ['wal beside key rotation', wal, rotate, true],
    ['key rotation beside wal', rotate, wal, true],
    ['prune beside prune', prune, prune, true],
    ['shared beside a damaged lock', shared, damaged, false],
    ['wal beside a damaged lock', wal, damaged, false],
    ['prune beside a damaged lock', prune, damaged, true],
    // A lock file from an older version has neither field: it conflicts as before.
    ['wal beside an older exclusive lock', wal, lock({ exclusive: true }), true],
    ['prune beside an older shared lock', prune, lock({}), true],
  ];
  for (const [what, wanted, held, expected] of cases) assert.equal(conflicts(wanted, held), expected, what);
});

test('WAL pushes take their locks while prune holds its own, not while a key rotation does', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-lock-'));
  dirs.push(dir);
  const repo = await Repository.init(createLocalBackend(dir), 'secret', { kdf: { N: 1024, r: 8, p: 1 } });
  const locked = (err: unknown) => isLifeboatError(err) && err.code === 'locked';

  const prune = await repo.lock(true, 'prune', { walAllowed: true });
  const push = await repo.lock(false, 'wal-push', { scope: 'wal' });
  await assert.rejects(repo.lock(false, 'backup'), locked);
  await push.release();
  await prune.release();

  const pushing = await repo.lock(false, 'wal-push', { scope: 'wal' });
  const pruning = await repo.lock(true, 'prune', { walAllowed: true });
  await assert.rejects(repo.lock(true, 'key rotate'), locked);
  await pruning.release();
  await pushing.release();

  const rotate = await repo.lock(true, 'key rotate');
  await assert.rejects(repo.lock(false, 'wal-push', { scope: 'wal' }), locked);
  await rotate.release();
});

test('with waitMs, a lock waits for a conflicting holder: taken once it is released, refused after the wait', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-lock-'));
  dirs.push(dir);
  const repo = await Repository.init(createLocalBackend(dir), 'secret', { kdf: { N: 1024, r: 8, p: 1 } });
  const prune = await repo.lock(true, 'prune', { walAllowed: true });
  const told: string[] = [];
  const began = Date.now();
  setTimeout(() => void prune.release(), 1500);
  const backup = await repo.lock(false, 'backup', { waitMs: 60_000, onWait: (why) => told.push(why) });
  const waited = Date.now() - began;
  assert.ok(waited >= 1500 && waited < 10_000, `waited ${waited} ms`);
  assert.equal(told.length, 1, 'told once');
  assert.match(told[0], /is locked by prune pid/);
  await backup.release();

  // Held past the wait: the lock error, saying how long it waited.
  const held = await repo.lock(true, 'prune', { walAllowed: true });
  try {
    const start = Date.now();
    await assert.rejects(repo.lock(false, 'backup', { waitMs: 2500 }), (err) => {
      assert.ok(isLifeboatError(err) && err.code === 'locked');
      assert.match(err.message, /is locked by prune pid .*\(waited [23] s for it\)/);
      return true;
    });
    assert.ok(Date.now() - start >= 2500);
  } finally {
    await held.release();
  }
});
