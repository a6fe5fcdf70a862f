/**
 * @module test/web/workers.e2e
 * The overview's Workers table in real headless Chromium against a fleet: one `lifeboat serve`
 * and one `lifeboat worker --labels host=w1` on a throwaway PostgreSQL catalog, as real
 * processes. The table lists both with their labels and shows the backup the worker runs
 * while it runs, then idle again. A single server (SQLite catalog) shows no Workers table.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { runCli } from '../helpers/cli.js';
import { startUntil, until } from '../helpers/fleet.js';
import { ARTIFACTS, type Browser, chromiumMissing, openBrowser, stepsOn } from './browser.js';

const skip = chromiumMissing || postgresUnavailable() || false;
if (skip) console.log(`SKIPPED dashboard Workers table: ${skip}`);

describe('dashboard Workers table in headless Chromium', { skip, timeout: 180_000 }, () => {
  let server: PostgresServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let token = '';
  let base = '';
  let browser: Browser;
  let page: Page;
  let problems: string[];
  const procs = new Set<ChildProcess>();
  const step = stepsOn(() => page);

  const cli = (args: string[], config = 'fleet.yaml') =>
    runCli(['--config', join(dir, config), ...args], env, { cwd: dir });

  const row = (name: string) => page.locator('table.workers tr[data-worker]').filter({ hasText: name });
  const text = async (name: string) => (await row(name).textContent()) ?? '';

  before(async () => {
    server = await startPostgres();
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-web-workers-'));
    await mkdir(join(dir, 'db1'));
    await writeFile(join(dir, 'db1', 'a.txt'), 'db1\n');
    await writeFile(
      join(dir, 'fleet.yaml'),
      `
repository:
  url: ${join(dir, 'repo')}
server:
  catalog: ${server.url}
  labels: { role: serve }
  fleet: { lease: 3s, poll: 1s }
sources:
  db1:
    type: files
    path: ${join(dir, 'db1')}
    runs_on: { host: w1 }
    hooks: { before_backup: "sleep 4" }
`,
    );
    await writeFile(join(dir, 'single.yaml'), `repository:\n  url: ${join(dir, 'repo')}\n`);
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, {
      LIFEBOAT_PASSWORD: 'pw-web-workers',
      LIFEBOAT_KDF_N: '1024',
      LIFEBOAT_LOG_LEVEL: 'warn',
    });
    const init = await cli(['init']);
    assert.equal(init.code, 0, init.stderr);
    const t = await cli(['token', 'create', 'op', '--role', 'operator']);
    assert.equal(t.code, 0, t.stderr);
    token = t.stdout.trim();
    const [s] = await Promise.all([
      startUntil(
        ['serve', '--listen', '127.0.0.1:0', '--config', join(dir, 'fleet.yaml')],
        env,
        dir,
        /serving on (http:\/\/\S+)/,
        procs,
      ),
      startUntil(
        ['worker', '--labels', 'host=w1', '--config', join(dir, 'fleet.yaml')],
        env,
        dir,
        /worker (\S+) running/,
        procs,
      ),
    ]);
    base = s.match[1];
    browser = await openBrowser();
    ({ page, problems } = browser);
  });

  after(async () => {
    await browser?.close();
    for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`screenshots: ${ARTIFACTS}`);
  });

  step('lists the serve instance and the worker with their labels, idle', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Workers' }).waitFor();
    await row('host=w1').waitFor();
    await row('role=serve').waitFor();
    assert.equal(await page.locator('table.workers tr[data-worker]').count(), 2);
    assert.match(await text('host=w1'), /idle/);
    await page.screenshot({ path: join(ARTIFACTS, 'workers-idle.png'), fullPage: true });
  });

  step('shows the backup the worker runs, then idle again', async () => {
    const res = await fetch(`${base}/api/sources/db1/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.text();
    assert.equal(res.status, 202, body);
    const { job } = JSON.parse(body) as { job: { id: string } };
    // The table refreshes every 15 s; a reload reads it at once.
    await until(
      'the worker row names the running backup',
      async () => {
        await page.reload();
        await row('host=w1').waitFor();
        return (await text('host=w1')).includes(`backup db1 ${job.id.slice(0, 8)}`);
      },
      20_000,
    );
    assert.match(await text('role=serve'), /idle/);
    await page.screenshot({ path: join(ARTIFACTS, 'workers-running.png'), fullPage: true });
    await until(
      'the worker idle again',
      async () => {
        await page.reload();
        await row('host=w1').waitFor();
        return /idle/.test(await text('host=w1'));
      },
      30_000,
    );
    assert.deepEqual(problems, []);
  });

  step('a single server shows no Workers table', async () => {
    const single = await startUntil(
      ['serve', '--listen', '127.0.0.1:0', '--config', join(dir, 'single.yaml')],
      { ...env, LIFEBOAT_CATALOG: join(dir, 'single.db') },
      dir,
      /serving on (http:\/\/\S+)/,
      procs,
    );
    const t = await runCli(
      ['--config', join(dir, 'single.yaml'), 'token', 'create', 'v', '--role', 'viewer'],
      {
        ...env,
        LIFEBOAT_CATALOG: join(dir, 'single.db'),
      },
      { cwd: dir },
    );
    assert.equal(t.code, 0, t.stderr);
    // Another port is another origin: a new sign-in (the token is kept per tab and origin).
    await page.goto(`${single.match[1]}/`);
    await page.getByLabel('API token').fill(t.stdout.trim());
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/workers'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    const workers = (await (await answered).json()) as { mode: string };
    assert.equal(workers.mode, 'single');
    await page.getByTestId('whoami').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Workers' }).count(), 0);
  });
});
