/**
 * @module test/fleet/fleet-remote
 * Remote workers with the real CLI: two `lifeboat serve` instances on a throwaway PostgreSQL
 * catalog, and `lifeboat worker --server A,B` processes that hold only a worker token (their
 * config and environment name no catalog). A remote worker runs a backup of a source whose
 * runs_on its labels carry (the snapshot is in the repository, the job succeeded in the
 * catalog, its retention ran); a stolen worker token is refused everything else (the API's routes, labels beyond
 * its own, another worker's job), each refusal leaving the data unchanged; a remote worker
 * killed with SIGKILL mid-backup loses its job to another after the lease; a serve instance
 * killed under a worker leaves it carrying on through the other URL.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import { pidOf, startUntil, stopProc, until } from '../helpers/fleet.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED fleet remote: ${unavailable}`);

interface Proc {
  child: ChildProcess;
  out: () => string;
  base?: string;
  /** A remote worker's --server URLs, in order. */
  servers?: string[];
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers of many routes
  body: any;
}

describe('remote workers with a worker token', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let remoteEnv: NodeJS.ProcessEnv;
  let operator = '';
  let admin = '';
  let viewer = '';
  let workerToken = '';
  let otherWorkerToken = '';
  const procs = new Set<ChildProcess>();
  let a: Proc;
  let b: Proc;
  let r1: Proc;

  const cli = (args: string[], config = 'fleet.yaml', e = env): Promise<CliResult> =>
    runCli(['--config', join(dir, config), ...args], e, { cwd: dir });

  const serve = async (): Promise<Proc> => {
    const p = await startUntil(
      ['serve', '--listen', '127.0.0.1:0', '--config', join(dir, 'fleet.yaml')],
      env,
      dir,
      /serving on (http:\/\/\S+)/,
      procs,
    );
    return { child: p.child, out: p.out, base: p.match[1] };
  };

  const remote = async (servers: string[], labels = 'host=db1'): Promise<Proc> => {
    const p = await startUntil(
      ['worker', '--server', servers.join(','), '--labels', labels, '--config', join(dir, 'remote.yaml')],
      remoteEnv,
      dir,
      /worker (\S+) running/,
      procs,
    );
    return { child: p.child, out: p.out, servers };
  };

  async function api(
    base: string,
    method: string,
    path: string,
    as: string,
    body?: unknown,
  ): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${as}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  async function job(id: string) {
    const { rows } = await pool.query('SELECT * FROM lifeboat.jobs WHERE id = $1', [id]);
    return rows[0];
  }

  /** Everything a refused call could have changed: jobs, tokens, the queue's state. */
  async function state(): Promise<string> {
    const q = async (sql: string) => JSON.stringify((await pool.query(sql)).rows);
    return [
      await q('SELECT id, status, error, snapshots, bytes_read, owner FROM lifeboat.jobs ORDER BY id'),
      await q('SELECT name, role, labels FROM lifeboat.tokens ORDER BY name'),
      await q(`SELECT id, state FROM lifeboat_queue.job WHERE name LIKE 'source.%' ORDER BY id`),
    ].join('\n');
  }

  /** The heartbeat row holding catalog job `id`, once one does. */
  async function holder(id: string): Promise<{ id: string; pid: number; token: string | null }> {
    let row: { id: string; pid: number; token: string | null } | undefined;
    await until(`a worker holds ${id}`, async () => {
      const { rows } = await pool.query(
        `SELECT id, pid, token FROM lifeboat_queue.fleet_worker w, jsonb_array_elements(w.current) e WHERE e->>'id' = $1`,
        [id],
      );
      row = rows[0];
      return row !== undefined;
    });
    return row!;
  }

  before(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-remote-'));
    for (const name of ['db1', 'slow']) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'a.txt'), `${name}\n`);
    }
    const sources = `
sources:
  db1:
    type: files
    path: ${join(dir, 'db1')}
    runs_on: { host: db1 }
    retention: { last: 5 }
    hooks: { before_backup: "env > ${join(dir, 'hook-env.txt')}" }
  slow:
    type: files
    path: ${join(dir, 'slow')}
    runs_on: { host: db1 }
    hooks: { before_backup: "sleep 5" }
`;
    await writeFile(
      join(dir, 'fleet.yaml'),
      `repository:\n  url: ${join(dir, 'repo')}\nserver:\n  catalog: ${server.url}\n  concurrency: 2\n  shutdown_grace: 2s\n  fleet: { lease: 2s, poll: 1s, retry_delay: 1s, retries: 2 }\n${sources}`,
    );
    // The remote worker's own config: the repository and its sources, no catalog.
    await writeFile(
      join(dir, 'remote.yaml'),
      `repository:\n  url: ${join(dir, 'repo')}\nserver:\n  shutdown_grace: 2s\n${sources}`,
    );
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, {
      LIFEBOAT_PASSWORD: 'pw-remote',
      LIFEBOAT_KDF_N: '1024',
      LIFEBOAT_LOG_LEVEL: 'warn',
    });
    assert.equal((await cli(['init'])).code, 0);
    const create = async (name: string, ...args: string[]) => {
      const r = await cli(['token', 'create', name, ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    operator = await create('op', '--role', 'operator');
    admin = await create('adm', '--role', 'admin');
    viewer = await create('view', '--role', 'viewer');
    workerToken = await create('w-db1', '--role', 'worker', '--labels', 'host=db1');
    otherWorkerToken = await create('w-db1-other', '--role', 'worker', '--labels', 'host=db1');
    remoteEnv = { ...env, LIFEBOAT_WORKER_TOKEN: workerToken };
    [a, b] = await Promise.all([serve(), serve()]);
    r1 = await remote([a.base!, b.base!]);
  });

  after(async () => {
    for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await pool?.end();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('token create --role worker needs --labels; token list shows them', async () => {
    const bare = await cli(['token', 'create', 'w-bare', '--role', 'worker']);
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(bare.stderr, /worker token needs --labels/);
    const list = await cli(['token', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /w-db1\s+worker\s+host=db1/);
    assert.match(list.stdout, /op\s+operator\s+-/);
  });

  it('a remote worker with only a token runs a backup of its source', async () => {
    const config = await readFile(join(dir, 'remote.yaml'), 'utf8');
    assert.doesNotMatch(config, /postgres/);
    assert.ok(!Object.values(remoteEnv).some((v) => v?.includes(server.url)));
    const started = await api(a.base!, 'POST', '/api/sources/db1/backups', operator);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.job.id;
    await until('db1 backed up', async () => (await job(id)).status === 'succeeded');
    const done = await job(id);
    assert.equal(pidOf(done.owner), r1.child.pid);
    assert.equal(done.snapshots.length, 1);
    const snaps = await cli(['snapshots', '--json'], 'remote.yaml');
    assert.equal(snaps.code, 0, snaps.stderr);
    const listed = JSON.parse(snaps.stdout) as { id: string; source: string }[];
    assert.ok(
      listed.some((s) => s.id === done.snapshots[0] && s.source === 'db1'),
      snaps.stdout,
    );
    const workers = await api(b.base!, 'GET', '/api/workers', operator);
    const listed1 = workers.body.workers.find((w: { pid: number }) => w.pid === r1.child.pid);
    assert.deepEqual([listed1?.labels, listed1?.token], [{ host: 'db1' }, 'w-db1']);
    assert.ok(
      workers.body.workers.every(
        (w: { pid: number; token: string | null }) => w.pid === r1.child.pid || w.token === null,
      ),
    );
    // The token is nowhere else: not in its output, its command line, nor the jobs' hooks.
    assert.ok(!r1.out().includes(workerToken));
    assert.ok(!(await readFile(`/proc/${r1.child.pid}/cmdline`, 'utf8')).includes(workerToken));
    const hookEnv = await readFile(join(dir, 'hook-env.txt'), 'utf8');
    assert.match(hookEnv, /LIFEBOAT_/);
    assert.ok(!hookEnv.includes(workerToken) && !hookEnv.includes('LIFEBOAT_WORKER_TOKEN'));
  });

  it('a stolen worker token passes none of the API’s routes', async () => {
    const before = await state();
    for (const path of [
      '/api/jobs',
      '/api/snapshots',
      '/api/tokens',
      '/api/audit',
      '/api/sources',
      '/api/whoami',
    ]) {
      const r = await api(a.base!, 'GET', path, workerToken);
      assert.ok([403, 404].includes(r.status), `${path}: ${r.status}`);
      if (r.status === 404) assert.match(r.body.error.message, /no route/);
      else assert.match(r.body.error.message, /role worker/);
    }
    const posts: [string, unknown][] = [
      ['/api/sources/db1/backups', undefined],
      ['/api/restores', { snapshot: 'latest', source: 'db1', to: join(dir, 'stolen') }],
      ['/api/sources/db1/drills', undefined],
    ];
    for (const [path, body] of posts) {
      const r = await api(a.base!, 'POST', path, workerToken, body);
      assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.body)}`);
    }
    assert.equal(await state(), before);
    const denied = await api(a.base!, 'GET', '/api/audit?action=auth.denied', admin);
    assert.ok(denied.body.entries.some((e: { actor: string }) => e.actor === 'w-db1'));
  });

  it('labels beyond the token’s are refused, naming them', async () => {
    const before = await state();
    const r = await api(b.base!, 'POST', '/api/worker/register', workerToken, {
      name: 'thief',
      host: 'x',
      pid: 1,
      labels: { host: 'db2' },
    });
    assert.equal(r.status, 403);
    assert.match(r.body.error.message, /may not claim jobs for host=db2/);
    const { rows } = await pool.query(`SELECT 1 FROM lifeboat_queue.fleet_worker WHERE name = 'thief'`);
    assert.equal(rows.length, 0);
    // The CLI the same way: refused at start, exit 1.
    const started = await cli(
      ['worker', '--server', a.base!, '--labels', 'host=db2'],
      'remote.yaml',
      remoteEnv,
    );
    assert.equal(started.code, 1, started.stdout + started.stderr);
    assert.match(started.stderr, /may not claim jobs for host=db2/);
    assert.equal(await state(), before);
  });

  it('other tokens cannot use the worker routes', async () => {
    for (const as of [viewer, operator, admin]) {
      const r = await api(a.base!, 'POST', '/api/worker/register', as, {
        name: 'x',
        host: 'x',
        pid: 1,
        labels: { host: 'db1' },
      });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.match(r.body.error.message, /needs worker/);
    }
  });

  it('another worker’s job cannot be read, updated, audited or completed', async () => {
    const started = await api(a.base!, 'POST', '/api/sources/slow/backups', operator);
    assert.equal(started.status, 202);
    const id = started.body.job.id;
    const held = await holder(id);
    assert.equal(held.token, 'w-db1');
    // The thief registers its own row with another worker token of the same labels.
    const reg = await api(b.base!, 'POST', '/api/worker/register', otherWorkerToken, {
      name: 'thief',
      host: 'x',
      pid: 1,
      labels: { host: 'db1' },
    });
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    const thief = reg.body.worker;
    await until('the backup running', async () => (await job(id)).status === 'running');
    const before = await state();
    const auditBefore = (await api(a.base!, 'GET', '/api/audit?limit=1000', admin)).body.entries.length;
    const tries: [string, string, unknown, number][] = [
      // Its own row does not hold the job.
      ['GET', `/api/worker/${thief}/jobs/${id}`, undefined, 409],
      ['POST', `/api/worker/${thief}/jobs/${id}/update`, { status: 'failed', error: 'stolen' }, 409],
      [
        'POST',
        `/api/worker/${thief}/jobs/${id}/audit`,
        { action: 'restore.start', target: id, details: {} },
        409,
      ],
      ['POST', `/api/worker/${thief}/jobs/${id}/complete`, undefined, 409],
      ['POST', `/api/worker/${thief}/jobs/${id}/fail`, { message: 'stolen' }, 409],
      // The holder's row is not its token's.
      ['POST', `/api/worker/${held.id}/jobs/${id}/update`, { status: 'failed', error: 'stolen' }, 403],
      ['POST', `/api/worker/${held.id}/jobs/${id}/complete`, undefined, 403],
      ['POST', `/api/worker/${held.id}/heartbeat`, { running: [] }, 403],
      ['POST', `/api/worker/${held.id}/claim`, {}, 403],
    ];
    for (const [method, path, body, status] of tries) {
      // The thief's row keeps its lease (2 s in this test) through the tries.
      const beat = await api(a.base!, 'POST', `/api/worker/${thief}/heartbeat`, otherWorkerToken, {
        running: [],
      });
      assert.equal(beat.status, 200, JSON.stringify(beat.body));
      const r = await api(a.base!, method, path, otherWorkerToken, body);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    }
    assert.equal(await state(), before);
    const entries = (await api(a.base!, 'GET', '/api/audit?limit=1000', admin)).body.entries;
    const denials = entries.slice(0, entries.length - auditBefore);
    assert.equal(
      denials.filter((e: { action: string }) => e.action === 'worker.denied').length,
      tries.length,
    );
    assert.ok(denials.every((e: { actor: string }) => e.actor === 'w-db1-other'));
    await until('the slow backup finished', async () => (await job(id)).status === 'succeeded', 60_000);
    assert.equal(pidOf((await job(id)).owner), r1.child.pid);
  });

  it('a remote worker killed mid-backup: the job completes on another after the lease', async () => {
    const r2 = await remote([b.base!, a.base!]);
    const started = await api(a.base!, 'POST', '/api/sources/slow/backups', operator);
    const id = started.body.job.id;
    const held = await holder(id);
    const victim = held.pid === r1.child.pid ? r1 : r2;
    const survivor = victim === r1 ? r2 : r1;
    await until('the backup running', async () => (await job(id)).status === 'running');
    await stopProc(victim.child, 'SIGKILL', procs);
    await until('the backup succeeded elsewhere', async () => (await job(id)).status === 'succeeded', 60_000);
    const done = await job(id);
    assert.equal(pidOf(done.owner), survivor.child.pid);
    assert.equal(done.snapshots.length, 1);
    // The survivor is the one remote worker left: the next case goes on with it.
    if (victim === r1) r1 = survivor;
  });

  it('a serve instance killed under a worker: it carries on through the other URL', async () => {
    // Only r1 runs now; it asks the first of its URLs while that one answers.
    const [first, other] = r1.servers?.[0] === a.base ? [a, b] : [b, a];
    const started = await api(other.base!, 'POST', '/api/sources/slow/backups', operator);
    const id = started.body.job.id;
    await holder(id);
    await until('the backup running', async () => (await job(id)).status === 'running');
    await stopProc(first.child, 'SIGKILL', procs);
    await until('the backup succeeded', async () => (await job(id)).status === 'succeeded', 60_000);
    assert.equal(pidOf((await job(id)).owner), r1.child.pid);
    // And it takes the next job through the other instance.
    const next = await api(other.base!, 'POST', '/api/sources/db1/backups', operator);
    await until('the next backup', async () => (await job(next.body.job.id)).status === 'succeeded', 60_000);
    assert.equal(pidOf((await job(next.body.job.id)).owner), r1.child.pid);
    // A clean stop: exit 0, its heartbeat row gone at once (not left to the lease).
    assert.equal(await stopProc(r1.child, 'SIGTERM', procs), 0);
    const { rows } = await pool.query('SELECT 1 FROM lifeboat_queue.fleet_worker WHERE pid = $1', [
      r1.child.pid,
    ]);
    assert.equal(rows.length, 0);
  });
});
