/**
 * @module test/fleet/fleet-write-only
 * A backup-only worker in fleet mode, with the real CLI: one `lifeboat serve` (full key, no
 * labels) and two `lifeboat worker --labels host=bk` on a throwaway PostgreSQL catalog, one
 * with a write-only password, one with a full one; the source runs on host=bk and has a
 * retention policy, so each backup is followed by a forget. Alone, the backup-only worker runs
 * backups (deduplicating, with a write-only key) while the retention forget and a restore
 * wait queued and it stays idle; the full worker, once started, runs them. With both up,
 * forgets and restores never land on the backup-only worker. A stolen backup-only host (its
 * config and password) can neither restore, list, forget, prune, dump nor read a snapshot's
 * data, and changes nothing in the repository.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { systemClock } from '../../src/clock.js';
import { Repository } from '../../src/repo/repository.js';
import { openBackend } from '../../src/storage/registry.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import {
  fleetConfigHead,
  type CatalogJobRow as JobRow,
  type FleetProc as Proc,
  pidOf,
  startUntil,
  stopProc,
  until,
} from '../helpers/fleet.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED fleet write-only: ${unavailable}`);

const FULL = 'pw-full';
const WRITE_ONLY = 'pw-backup-host';
const WRITE_ONLY_ERROR = /these credentials are write-only/;

interface WorkerJson {
  name: string;
  pid: number;
  labels: Record<string, string>;
  kinds: string[] | null;
  current: { id: string; kind: string }[];
}

describe('a backup-only worker (write-only key) in fleet mode', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let woEnv: NodeJS.ProcessEnv;
  let token = '';
  const procs = new Set<ChildProcess>();
  let serve: Proc;
  let wo: Proc;
  let full: Proc | undefined;
  const docs = () => join(dir, 'docs');

  const cli = (args: string[], e = env): Promise<CliResult> =>
    runCli(['--config', join(dir, 'fleet.yaml'), ...args], e, { cwd: dir });

  async function start(args: string[], ready: RegExp, e: NodeJS.ProcessEnv): Promise<Proc> {
    const p = await startUntil([...args, '--config', join(dir, 'fleet.yaml')], e, dir, ready, procs);
    return { child: p.child, out: p.out, base: p.match[1] };
  }
  const startWorker = (e: NodeJS.ProcessEnv) =>
    start(['worker', '--labels', 'host=bk', '--concurrency', '1'], /worker (\S+) running.*/, e);
  const stop = (p: Proc) => stopProc(p.child, 'SIGTERM', procs);

  async function api(method: string, path: string, body?: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(serve.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function job(id: string): Promise<JobRow> {
    const { rows } = await pool.query('SELECT * FROM lifeboat.jobs WHERE id = $1', [id]);
    return rows[0];
  }
  const ended = async (id: string) => !['queued', 'running'].includes((await job(id)).status);

  /** The pg-boss state of the fleet job carrying catalog job `id`. */
  async function queueState(id: string): Promise<string> {
    const { rows } = await pool.query(
      `SELECT state FROM lifeboat_queue.job WHERE data->'job'->>'id' = $1
       UNION ALL SELECT state FROM lifeboat_queue.archive WHERE data->'job'->>'id' = $1`,
      [id],
    );
    return rows.map((r) => r.state).join(',');
  }

  async function workers(): Promise<WorkerJson[]> {
    const r = await api('GET', '/api/workers');
    return (r.body as { workers: WorkerJson[] }).workers;
  }

  async function backup(): Promise<JobRow> {
    const r = await api('POST', '/api/sources/docs/backups');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = (r.body.job as { id: string }).id;
    await until('the backup ended', () => ended(id), 60_000);
    const done = await job(id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    return done;
  }

  /** The retention forget a backup was followed by (recorded once the backup ended). */
  async function followUp(after: JobRow): Promise<JobRow> {
    let found: JobRow | undefined;
    await until(`the forget after backup ${after.id}`, async () => {
      const { rows } = await pool.query(
        `SELECT * FROM lifeboat.jobs WHERE kind = 'forget' AND source = 'docs' AND trigger = 'retention'
           AND created_at >= (SELECT finished_at FROM lifeboat.jobs WHERE id = $1) ORDER BY created_at LIMIT 1`,
        [after.id],
      );
      found = rows[0];
      return !!found;
    });
    return found as JobRow;
  }

  async function restore(to: string): Promise<string> {
    const r = await api('POST', '/api/restores', { snapshot: 'latest', source: 'docs', to });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const j = r.body.job as { id: string; status: string };
    assert.equal(j.status, 'queued', JSON.stringify(r.body));
    return j.id;
  }

  /** Every file of the repository but locks, with its hash: what must not change. */
  async function repoFiles(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          if (e.name !== 'locks') await walk(p);
        } else {
          out.set(
            relative(join(dir, 'repo'), p),
            createHash('sha256')
              .update(await readFile(p))
              .digest('hex'),
          );
        }
      }
    };
    await walk(join(dir, 'repo'));
    return out;
  }

  before(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-fleet-wo-'));
    await mkdir(docs());
    await writeFile(join(docs(), 'a.txt'), 'docs\n');
    await writeFile(join(docs(), 'big.bin'), randomBytes(512 * 1024));
    await writeFile(
      join(dir, 'fleet.yaml'),
      `${fleetConfigHead(join(dir, 'repo'), server.url)}sources:
  docs:
    type: files
    path: ${docs()}
    runs_on: { host: bk }
    retention: { last: 3 }
`,
    );
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: FULL, LIFEBOAT_KDF_N: '1024', LIFEBOAT_LOG_LEVEL: 'warn' });
    woEnv = { ...env, LIFEBOAT_PASSWORD: WRITE_ONLY };
    const init = await cli(['init']);
    assert.equal(init.code, 0, init.stderr);
    await writeFile(join(dir, 'backup-host-password'), `${WRITE_ONLY}\n`);
    const added = await cli([
      'key',
      'add',
      '--write-only',
      '--new-password-file',
      join(dir, 'backup-host-password'),
    ]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added write-only key/);
    const t = await cli(['token', 'create', 'admin', '--role', 'admin']);
    assert.equal(t.code, 0, t.stderr);
    token = t.stdout.trim();
    serve = await start(['serve', '--listen', '127.0.0.1:0'], /serving on (http:\/\/\S+)/, env);
    wo = await startWorker(woEnv);
  });

  after(async () => {
    for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await pool?.end();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says at start-up and in /api/workers that it takes backups only', async () => {
    assert.match(wo.out(), /backups only: the repository key is write-only/);
    const all = await workers();
    const w = all.find((x) => x.pid === wo.child.pid);
    assert.deepEqual(w?.kinds, ['backup', 'app_backup']);
    assert.deepEqual(w?.labels, { host: 'bk' });
    // The serve instance's own worker (full key, no labels) takes every kind.
    assert.deepEqual(
      all.filter((x) => x !== w).map((x) => [x.kinds, x.labels]),
      [[null, {}]],
    );
  });

  it('alone, it backs up; the retention forget and a restore wait queued until a full worker runs them', async () => {
    const first = await backup();
    assert.equal(pidOf(first.owner), wo.child.pid);
    const forget = await followUp(first);
    // Several polls of the backup-only worker: the forget stays queued, the worker idle.
    await systemClock.sleep(4000);
    assert.equal((await job(forget.id)).status, 'queued');
    assert.equal(await queueState(forget.id), 'created');
    assert.deepEqual((await workers()).find((x) => x.pid === wo.child.pid)?.current, []);
    assert.match(wo.out(), /no live worker takes this forget job \(labels host=bk, a full repository key\)/);

    full = await startWorker(env);
    assert.doesNotMatch(full.out(), /backups only/);
    await until('the forget ran', () => ended(forget.id));
    const forgot = await job(forget.id);
    assert.equal(forgot.status, 'succeeded', forgot.error ?? '');
    assert.equal(pidOf(forgot.owner), full.child.pid);

    // A restore queued behind nothing, with only the backup-only worker up.
    await stop(full);
    full = undefined;
    const to = join(dir, 'restored-1');
    const id = await restore(to);
    await systemClock.sleep(4000);
    assert.equal((await job(id)).status, 'queued');
    assert.equal(await queueState(id), 'created');
    assert.deepEqual((await workers()).find((x) => x.pid === wo.child.pid)?.current, []);
    await assert.rejects(stat(to), /ENOENT/);

    full = await startWorker(env);
    await until('the restore ran', () => ended(id));
    const restored = await job(id);
    assert.equal(restored.status, 'succeeded', restored.error ?? '');
    assert.equal(pidOf(restored.owner), full.child.pid);
    // The full worker reads what the write-only key wrote.
    assert.deepEqual(await readFile(join(to, 'big.bin')), await readFile(join(docs(), 'big.bin')));
    assert.equal(await readFile(join(to, 'a.txt'), 'utf8'), 'docs\n');
  });

  it('a second write-only backup deduplicates against the first', async () => {
    assert.ok(full);
    await stop(full);
    full = undefined;
    await writeFile(join(docs(), 'a.txt'), 'docs, changed\n');
    const second = await backup();
    assert.equal(pidOf(second.owner), wo.child.pid);
    const { rows } = await pool.query(
      `SELECT bytes_stored FROM lifeboat.jobs WHERE kind = 'backup' AND status = 'succeeded' ORDER BY created_at`,
    );
    // The 512 KiB file is stored once: the second backup adds a few KiB (the changed file, trees).
    assert.ok(Number(rows[0].bytes_stored) > 512 * 1024, JSON.stringify(rows));
    assert.ok(Number(second.bytes_stored) < 16 * 1024, String(second.bytes_stored));
    full = await startWorker(env);
    const forget = await followUp(second);
    await until('the forget ran', () => ended(forget.id));
    assert.equal(pidOf((await job(forget.id)).owner), full.child.pid);
  });

  it('with both workers up, forgets and restores never run on the backup-only worker', async () => {
    assert.ok(full);
    const ran: Record<string, number[]> = { backup: [], forget: [], restore: [] };
    for (let i = 0; i < 6; i++) {
      const b = await backup();
      ran.backup.push(pidOf(b.owner));
      const f = await followUp(b);
      await until('the forget ran', () => ended(f.id));
      ran.forget.push(pidOf((await job(f.id)).owner));
      const id = await restore(join(dir, `restored-both-${i}`));
      await until('the restore ran', () => ended(id));
      const r = await job(id);
      assert.equal(r.status, 'succeeded', r.error ?? '');
      ran.restore.push(pidOf(r.owner));
    }
    const fullPid = full.child.pid as number;
    const woPid = wo.child.pid as number;
    assert.deepEqual(
      ran.forget,
      ran.forget.map(() => fullPid),
    );
    assert.deepEqual(
      ran.restore,
      ran.restore.map(() => fullPid),
    );
    assert.ok(
      ran.backup.every((p) => p === fullPid || p === woPid),
      JSON.stringify(ran.backup),
    );
    // Both workers poll at a fixed pace, so whichever polls first after a job ends tends to
    // win every backup (the backup-only one ran them above); with it stopped, the full one does.
    await stop(wo);
    const b = await backup();
    assert.equal(pidOf(b.owner), fullPid);
    const f = await followUp(b);
    await until('the forget ran', () => ended(f.id));
    assert.equal(pidOf((await job(f.id)).owner), fullPid);
  });

  it('a stolen backup-only host can read, restore, forget and prune nothing', async () => {
    const listed = await cli(['snapshots', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const snaps = JSON.parse(listed.stdout) as { id: string }[];
    assert.ok(snaps.length >= 3);
    const id = snaps[0].id;
    const files = await repoFiles();
    const to = join(dir, 'stolen-restore');
    const attempts = [
      ['restore', 'latest', '--source', 'docs', '--to', to],
      ['restore', id, '--to', to],
      ['snapshots'],
      ['ls', id],
      ['ls', 'latest', '--source', 'docs'],
      ['dump', id, '--output', join(dir, 'stolen-dump')],
      ['forget', '--keep-last', '1'],
      ['forget', id],
      ['prune'],
      ['check'],
    ];
    for (const args of attempts) {
      const r = await cli(args, woEnv);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, WRITE_ONLY_ERROR, args.join(' '));
    }
    await assert.rejects(stat(to), /ENOENT/);
    await assert.rejects(stat(join(dir, 'stolen-dump')), /ENOENT/);

    // Straight to the repository with the stolen password: the snapshot file and its data.
    const repo = await Repository.open(await openBackend(join(dir, 'repo')), WRITE_ONLY);
    try {
      assert.equal(repo.writeOnly, true);
      await assert.rejects(repo.readSnapshot(id), WRITE_ONLY_ERROR);
      await assert.rejects(repo.listSnapshots(), WRITE_ONLY_ERROR);
      const owner = await Repository.open(await openBackend(join(dir, 'repo')), FULL);
      const root = (await owner.loadSnapshot(id)).root;
      await owner.close();
      await owner.closeStorage();
      await repo.loadIndex();
      await assert.rejects(repo.loadBlob(Buffer.from(root, 'hex')), WRITE_ONLY_ERROR);
    } finally {
      await repo.close();
      await repo.closeStorage();
    }

    assert.deepEqual(await repoFiles(), files);
    const again = await cli(['snapshots', '--json']);
    assert.deepEqual(JSON.parse(again.stdout), snaps);
  });
});
