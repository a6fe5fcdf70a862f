import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TestClock } from '../clock.js';
import { Repository } from '../repo/repository.js';
import { ACK_SUFFIX } from '../sources/postgres/wal-dir.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { fetchWal } from './wal-fetch.js';
import { pushWal } from './wal-push.js';
import { PUSH_AGENT_PID, runPushAgent } from './wal-push-agent.js';

async function scratch(): Promise<{ repo: Repository; pgWal: string; status: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lb-push-agent-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const repo = await Repository.init(createLocalBackend(join(dir, 'repo')), 'pw', {
    kdf: { N: 1024, r: 8, p: 1 },
  });
  const pgWal = join(dir, 'pg_wal');
  const status = join(pgWal, 'archive_status');
  await mkdir(status, { recursive: true });
  return { repo, pgWal, status, dir };
}

async function ready(pgWal: string, name: string): Promise<Buffer> {
  const data = Buffer.concat([randomBytes(32 * 1024), Buffer.alloc(32 * 1024)]);
  await writeFile(join(pgWal, name), data);
  await writeFile(join(pgWal, 'archive_status', `${name}.ready`), '');
  return data;
}

test('the push agent stores ready files as they appear, acknowledges them, and leaves when idle', async () => {
  const { repo, pgWal, status, dir } = await scratch();
  const clock = new TestClock();
  const names = ['000000010000000000000003', '000000010000000000000004'];
  const data = [await ready(pgWal, names[0])];
  const agent = runPushAgent(repo, 'db', pgWal, { idleMs: 3000, clock });
  // An agent that ended (or failed) sleeps no more: waiting for it would hang, not fail.
  const ended = agent.then(
    () => {},
    () => {},
  );
  const acked = async (n: string) => (await readdir(status)).includes(`${n}${ACK_SUFFIX}`);
  // Sleeping means it has stored and acknowledged everything ready.
  await Promise.race([clock.sleeping(), ended]);
  assert.ok(await acked(names[0]));
  assert.equal((await readFile(join(status, PUSH_AGENT_PID), 'utf8')).trim(), String(process.pid));
  // PostgreSQL's call takes the acknowledgement and marks the file done; a later file is
  // stored without any call.
  await rm(join(status, `${names[0]}${ACK_SUFFIX}`));
  await rename(join(status, `${names[0]}.ready`), join(status, `${names[0]}.done`));
  data.push(await ready(pgWal, names[1]));
  clock.tick(20);
  await Promise.race([clock.sleeping(), ended]);
  assert.ok(await acked(names[1]));
  // An acknowledgement PostgreSQL will not ask for (the file was archived another way) goes
  // at the next sweep (every second), and the agent leaves once idle.
  await rm(join(status, `${names[1]}.ready`));
  clock.tick(1001);
  await Promise.race([clock.sleeping(), ended]);
  assert.ok(!(await acked(names[1])));
  clock.tick(3000);
  await agent;
  assert.deepEqual((await readdir(status)).sort(), [`${names[0]}.done`]);
  for (const [i, n] of names.entries()) {
    assert.equal(await fetchWal(repo, 'db', n, join(dir, 'out')), true);
    assert.ok((await readFile(join(dir, 'out'))).equals(data[i]), n);
  }
});

test('the push agent stops at a file it cannot store, unacknowledged, for the full command to report', async () => {
  const { repo, pgWal, status } = await scratch();
  const name = '000000010000000000000003';
  await ready(pgWal, name);
  await pushWal(repo, 'db', join(pgWal, name), { batch: false });
  await ready(pgWal, name); // other bytes under an archived name
  const failures: string[] = [];
  await runPushAgent(repo, 'db', pgWal, {
    idleMs: 10_000,
    onError: (path, err) => failures.push(`${path}: ${(err as Error).message}`),
  });
  assert.equal(failures.length, 1);
  assert.match(failures[0], /different content/);
  assert.deepEqual((await readdir(status)).sort(), [`${name}.ready`], 'no acknowledgement, no pid file');
});

test('WAL is pushed while prune holds its lock, not while a key rotation holds its own', async () => {
  const { repo, pgWal, status } = await scratch();
  const names = ['000000010000000000000003', '000000010000000000000004', '000000010000000000000005'];
  const prune = await repo.lock(true, 'prune', { walAllowed: true });
  try {
    await ready(pgWal, names[0]);
    assert.equal((await pushWal(repo, 'db', join(pgWal, names[0]))).pushed.result, 'stored');
    // The agent too: it takes a lock per batch.
    const errors: unknown[] = [];
    const clock = new TestClock();
    const agent = runPushAgent(repo, 'db', pgWal, { idleMs: 300, clock, onError: (_p, e) => errors.push(e) });
    const ended = agent.then(
      () => {},
      () => {},
    );
    await Promise.race([clock.sleeping(), ended]);
    await ready(pgWal, names[1]);
    clock.tick(20);
    await Promise.race([clock.sleeping(), ended]);
    clock.tick(301);
    await agent;
    assert.deepEqual(errors, []);
    assert.ok((await readdir(status)).includes(`${names[1]}${ACK_SUFFIX}`));
  } finally {
    await prune.release();
  }
  const rotate = await repo.lock(true, 'key rotate');
  try {
    await ready(pgWal, names[2]);
    await assert.rejects(pushWal(repo, 'db', join(pgWal, names[2])), /locked by key rotate/);
  } finally {
    await rotate.release();
  }
});
