/**
 * @module test/fleet/fleet-shared-state
 * Fleet mode with the real CLI, two `lifeboat serve` instances and a `lifeboat worker` on one
 * throwaway PostgreSQL catalog, for what the instances share beyond the queue: a running
 * backup's progress shows through the API of an instance that does not run it; a config whose
 * notification channel uses an unset variable still runs a worker and a CLI backup, and the
 * serve that sends through that channel names the variable; a backup started while another
 * process holds the exclusive lock of a prune without grace waits for it and succeeds.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import {
  fleetEnv,
  initWithOperator,
  killLeft,
  pidOf,
  startUntil,
  stopProc,
  until,
} from '../helpers/fleet.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED fleet shared state: ${unavailable}`);

interface Proc {
  child: ChildProcess;
  out: () => string;
  base?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: API bodies are checked field by field
type Body = any;

describe('fleet instances share progress, defer unset notification settings, wait out a prune', {
  skip: unavailable ?? false,
}, () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let token = '';
  const procs = new Set<ChildProcess>();
  let a: Proc;
  let b: Proc;
  let w: Proc;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', join(dir, 'fleet.yaml'), ...args], env, { cwd: dir });

  async function start(args: string[], ready: RegExp): Promise<Proc> {
    const p = await startUntil([...args, '--config', join(dir, 'fleet.yaml')], env, dir, ready, procs);
    return { child: p.child, out: p.out, base: p.match[1] };
  }

  async function api(base: string, method: string, path: string): Promise<{ status: number; body: Body }> {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  }

  async function backup(via: Proc, source: string): Promise<string> {
    const r = await api(via.base!, 'POST', `/api/sources/${source}/backups`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.job.id;
  }

  async function jobRow(id: string): Promise<{ status: string; owner: string | null; error: string | null }> {
    const { rows } = await pool.query('SELECT status, owner, error FROM lifeboat.jobs WHERE id = $1', [id]);
    return rows[0];
  }

  const finished = async (id: string) => !['queued', 'running'].includes((await jobRow(id)).status);

  before(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-fleet-shared-'));
    for (const name of ['held', 'docs', 'onw1']) await mkdir(join(dir, name));
    // Three files of known sizes: the stored progress must count them all.
    for (const [i, size] of [1000, 20_000, 300_000].entries()) {
      await writeFile(join(dir, 'held', `f${i}.bin`), Buffer.alloc(size, i + 1));
    }
    await writeFile(join(dir, 'docs', 'a.txt'), 'docs\n');
    await writeFile(join(dir, 'onw1', 'a.txt'), 'onw1\n');
    await writeFile(
      join(dir, 'fleet.yaml'),
      `
repository:
  url: ${join(dir, 'repo')}
server:
  catalog: ${server.url}
  concurrency: 2
  shutdown_grace: 2s
  fleet: { lease: 2s, poll: 1s, retry_delay: 1s, retries: 2 }
  alerts: { min_free_space: 1000TiB }
sources:
  held:
    type: files
    path: ${join(dir, 'held')}
    # Holds the job in running, its backup phase done, for the progress to be read.
    hooks: { after_backup: "sleep 6" }
  docs:
    type: files
    path: ${join(dir, 'docs')}
  onw1:
    type: files
    path: ${join(dir, 'onw1')}
    runs_on: { host: w1 }
notifications:
  - type: webhook
    url: \${LB_TEST_HOOK_URL}
`,
    );
    env = fleetEnv('pw-fleet');
    delete env.LB_TEST_HOOK_URL;
    token = await initWithOperator(cli);
    const serve = () => start(['serve', '--listen', '127.0.0.1:0'], /serving on (http:\/\/\S+)/);
    [a, b, w] = await Promise.all([
      serve(),
      serve(),
      start(['worker', '--labels', 'host=w1'], /worker (\S+) running/),
    ]);
  });

  after(async () => {
    killLeft(procs);
    await pool?.end();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a running backup shows its progress through an instance that does not run it, and none once done', async () => {
    const id = await backup(a, 'held');
    await until('the backup runs', async () => (await jobRow(id)).status === 'running');
    const runner = pidOf((await jobRow(id)).owner);
    const others = [a, b].filter((p) => p.child.pid !== runner);
    assert.ok(others.length >= 1, 'an instance that does not run the job');
    const other = others[0];
    // The hook after the backup keeps it running with its phase done: the stored figures are final.
    let seen: Body;
    await until(
      'the stored progress of the finished phase',
      async () => {
        const r = await api(other.base!, 'GET', `/api/jobs/${id}`);
        seen = r.body.job;
        return seen.status === 'running' && seen.progress?.phases_done === 1;
      },
      20_000,
    );
    assert.equal(seen.progress.phase, 'backup held');
    assert.equal(seen.progress.files_done, 3);
    assert.equal(seen.progress.bytes_done, 321_000);
    assert.equal(seen.progress.bytes_total, 321_000);
    assert.equal(seen.progress.percent, 100);
    const listed = await api(other.base!, 'GET', '/api/jobs?limit=10');
    const inList = listed.body.jobs.find((j: Body) => j.id === id);
    assert.deepEqual(inList.progress, seen.progress);
    await until('the backup ended', () => finished(id));
    const done = await api(other.base!, 'GET', `/api/jobs/${id}`);
    assert.equal(done.body.job.status, 'succeeded');
    assert.equal(done.body.job.progress, undefined);
    const { rows } = await pool.query('SELECT progress FROM lifeboat.jobs WHERE id = $1', [id]);
    assert.equal(rows[0].progress, null, 'cleared in the catalog');
  });

  it('an unset variable in a notification channel stops neither a worker nor a CLI backup', async () => {
    // The worker started above with LB_TEST_HOOK_URL unset; it runs the source only it may run.
    const id = await backup(b, 'onw1');
    await until('the worker ran the backup', () => finished(id));
    const row = await jobRow(id);
    assert.equal(row.status, 'succeeded', row.error ?? '');
    assert.equal(pidOf(row.owner), w.child.pid);
    const r = await cli(['backup', 'docs', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout)[0].status, 'ok');
  });

  it('the serve that sends through that channel names the unset variable', async () => {
    // Low free space fires at start (min_free_space 1000TiB); the channel takes every alert.
    await until(
      'an instance reported the undelivered alert',
      async () => [a, b].some((p) => /alert not delivered/.test(p.out())),
      20_000,
    );
    const out = [a, b].map((p) => p.out()).join('\n');
    assert.match(out, /notifications\.0\.url uses \$\{LB_TEST_HOOK_URL\}, which is not set/);
    assert.doesNotMatch(w.out(), /LB_TEST_HOOK_URL/);
  });

  it('a backup started while another process holds a prune’s exclusive lock waits for it and succeeds', async () => {
    // The lock a prune without grace takes (exclusive, WAL writers let through), held 6 s by
    // a separate process.
    const url = (p: string) => pathToFileURL(join(import.meta.dirname, p)).href;
    const script = [
      `import { Repository } from '${url('../../src/repo/repository.js')}';`,
      `import { openBackend } from '${url('../../src/storage/registry.js')}';`,
      `const repo = await Repository.open(await openBackend(${JSON.stringify(join(dir, 'repo'))}), process.env.LIFEBOAT_PASSWORD);`,
      "const lock = await repo.lock(true, 'prune', { walAllowed: true });",
      "console.log('held');",
      'await new Promise((r) => setTimeout(r, 6000));',
      'await lock.release();',
      "console.log('released');",
    ].join('\n');
    const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { env });
    procs.add(holder);
    let said = '';
    holder.stdout.setEncoding('utf8').on('data', (d) => {
      said += d;
    });
    holder.stderr.setEncoding('utf8').on('data', (d) => {
      said += d;
    });
    await until('the prune lock is held', async () => /held/.test(said) || holder.exitCode !== null);
    assert.match(said, /held/);
    const id = await backup(a, 'docs');
    // Still running (waiting) while the lock is held, not failed.
    await until('the backup started', async () => (await jobRow(id)).status !== 'queued');
    await new Promise((r) => setTimeout(r, 2500));
    assert.doesNotMatch(said, /released/, 'the lock is still held');
    assert.equal((await jobRow(id)).status, 'running');
    await until('the backup ended', () => finished(id), 30_000);
    assert.match(said, /released/);
    const row = await jobRow(id);
    assert.equal(row.status, 'succeeded', row.error ?? '');
    await stopProc(holder, 'SIGTERM', procs);
    const check = await cli(['check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });
});
