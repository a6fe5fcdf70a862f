/**
 * @module test/server/serve
 * The real `lifeboat serve` in a child process: it listens, runs a backup asked for over
 * HTTP, and on SIGTERM lets a running job finish within the grace period (exit 0, job
 * succeeded) or marks it interrupted after it (exit 0, no snapshot, repository checks clean).
 * A server killed with SIGKILL leaves a running job that the next start marks interrupted.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, runCli, startCli } from '../helpers/cli.js';

interface Served {
  child: ChildProcess;
  base: string;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

describe('lifeboat serve (child process)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let token = '';
  const children: ChildProcess[] = [];

  const cli = (args: string[], config = 'finish.yaml'): Promise<CliResult> =>
    runCli(['--config', join(dir, config), ...args], env, { cwd: dir });

  async function serve(config: string): Promise<Served> {
    const child = startCli(['serve', '--listen', '127.0.0.1:0', '--config', join(dir, config)], env, dir);
    children.push(child);
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      err += d;
    });
    let signalledAt = 0;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>(
      (resolve) => {
        child.on('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - signalledAt }));
      },
    );
    const origKill = child.kill.bind(child);
    child.kill = (signal?: NodeJS.Signals | number) => {
      signalledAt = Date.now();
      return origKill(signal);
    };
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m) return { child, base: m[1], stdout: () => out, exited };
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`serve did not start:\n${out}\n${err}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function call(base: string, method: string, path: string) {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as { job: { id: string; status: string } } };
  }

  async function waitStatus(base: string, id: string, status: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while ((await call(base, 'GET', `/api/jobs/${id}`)).body.job.status !== status) {
      if (Date.now() > deadline) throw new Error(`job ${id} never became ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function jobs(): Promise<
    { id: string; status: string; error: string | null; snapshot: string | null }[]
  > {
    const r = await cli(['jobs', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-serve-'));
    await mkdir(join(dir, 'docs'));
    await writeFile(join(dir, 'docs', 'a.txt'), 'alpha\n');
    const sources = (sleep: number) => `
repository:
  url: ${join(dir, 'repo')}
sources:
  docs:
    type: files
    path: ${join(dir, 'docs')}
    hooks: { before_backup: "sleep ${sleep}" }
`;
    await writeFile(join(dir, 'finish.yaml'), `${sources(2)}server:\n  shutdown_grace: 20s\n`);
    await writeFile(join(dir, 'give-up.yaml'), `${sources(6)}server:\n  shutdown_grace: 1s\n`);
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: 'pw-serve', LIFEBOAT_KDF_N: '1024', LIFEBOAT_LOG_LEVEL: 'warn' });
    assert.equal((await cli(['init'])).code, 0);
    const t = await cli(['token', 'create', 'op', '--role', 'operator']);
    assert.equal(t.code, 0, t.stderr);
    token = t.stdout.trim();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lets a running backup finish on SIGTERM, then exits 0', async () => {
    const s = await serve('finish.yaml');
    const health = await fetch(`${s.base}/healthz`);
    assert.equal(health.status, 200);
    const started = await call(s.base, 'POST', '/api/sources/docs/backups');
    assert.equal(started.status, 202);
    const id = started.body.job.id;
    await waitStatus(s.base, id, 'running');
    s.child.kill('SIGTERM');
    const exit = await s.exited;
    assert.equal(exit.code, 0);
    assert.match(s.stdout(), /lifeboat: stopped\n$/);
    const job = (await jobs()).find((j) => j.id === id);
    assert.equal(job?.status, 'succeeded', job?.error ?? '');
    assert.ok(job?.snapshot);
  });

  it('marks a backup that outlives the grace period interrupted; nothing is committed', async () => {
    const before = JSON.parse((await cli(['snapshots', '--json'])).stdout).length;
    const s = await serve('give-up.yaml');
    const started = await call(s.base, 'POST', '/api/sources/docs/backups');
    const id = started.body.job.id;
    await waitStatus(s.base, id, 'running');
    s.child.kill('SIGTERM');
    const exit = await s.exited;
    assert.equal(exit.code, 0);
    assert.ok(exit.ms < 8_000, `stopped ${exit.ms} ms after SIGTERM (grace 1 s; the hook sleeps 6 s)`);
    assert.match(s.stdout(), new RegExp(`lifeboat: stopped; interrupted: backup ${id.slice(0, 8)}`));
    const job = (await jobs()).find((j) => j.id === id);
    assert.equal(job?.status, 'interrupted');
    assert.match(
      job?.error ?? '',
      /did not finish within the 1s grace period; a snapshot is written only when a backup completes/,
    );
    assert.equal(JSON.parse((await cli(['snapshots', '--json'])).stdout).length, before);
    const check = await cli(['check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  it('marks the jobs of a killed server interrupted when the next one starts', async () => {
    const s = await serve('give-up.yaml');
    const started = await call(s.base, 'POST', '/api/sources/docs/backups');
    const id = started.body.job.id;
    await waitStatus(s.base, id, 'running');
    s.child.kill('SIGKILL');
    await s.exited;
    assert.equal((await jobs()).find((j) => j.id === id)?.status, 'running', 'nobody has looked yet');
    const next = await serve('give-up.yaml');
    const job = await call(next.base, 'GET', `/api/jobs/${id}`);
    assert.equal(job.body.job.status, 'interrupted');
    next.child.kill('SIGTERM');
    assert.equal((await next.exited).code, 0);
  });
});
