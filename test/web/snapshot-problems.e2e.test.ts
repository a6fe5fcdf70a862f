/**
 * @module test/web/snapshot-problems.e2e
 * The dashboard over a repository that is not whole, in real headless Chromium against an
 * in-process `lifeboat serve`: one snapshot file has a flipped byte (the snapshots view
 * names it in a banner with the way out and lists the others), one snapshot was taken by
 * `lifeboat serve` running as nobody over a folder holding a file nobody may read (a badge
 * with the count in the list, the path in its detail, the job's warning in the history,
 * not a plain success), and the restore wizard sends `no_privileges`
 * for a files restore and shows it in the dry run's summary.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmod, chown, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { asNobody } from '../helpers/as-nobody.js';
import { flipByte, sleep } from '../helpers/repo-files.js';
import { type Harness, PASSWORD, startHarness } from '../server/harness.js';
import { ARTIFACTS, type Browser, chromiumMissing, openBrowser, stepsOn } from './browser.js';

const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
  logs:
    type: files
    path: $DIR/logs
`;

const skip = chromiumMissing || (process.getuid?.() !== 0 ? 'needs root to run the CLI as nobody' : false);
if (skip) console.log(`SKIPPED dashboard over a damaged repository: ${skip}`);

describe('the dashboard over a damaged repository', { skip, timeout: 180_000 }, () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let damaged: string;
  let partial: string;
  let secret: string;
  let partialJob: string;

  before(async () => {
    const first = await startHarness({
      config: CONFIG,
      files: { 'docs/a.txt': 'alpha\n', 'logs/today.log': 'line 1\n' },
    });
    const dir = first.dir;
    for (const source of ['docs', 'logs']) {
      first.clock.tick(60_000);
      const r = await first.call('POST', `/api/sources/${source}/backups`);
      const job = await first.waitJob(r.body.job.id);
      assert.equal(job.status, 'succeeded', job.error);
      if (source === 'logs') damaged = job.snapshot;
    }
    await first.stop();

    // `lifeboat serve` as nobody backs up docs again, over the same repository and catalog:
    // both are nobody's, one file of docs is not.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: PASSWORD, LIFEBOAT_LOG_LEVEL: 'warn' });
    const nobody = await asNobody(env, dir);
    if (typeof nobody === 'string') throw new Error(nobody);
    const cfg = ['--config', join(dir, 'lifeboat.yaml')];
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      `repository:\n  url: ${join(dir, 'repo')}\n${CONFIG.replaceAll('$DIR', dir)}`,
    );
    await chmod(dir, 0o755);
    await chownTree(dir, nobody.uid, nobody.gid);
    secret = join(dir, 'docs', 'secret.txt');
    await writeFile(secret, 'not for nobody\n', { mode: 0o600 });
    const t = await nobody.run([...cfg, 'token', 'create', 'op', '--role', 'operator'], env, dir);
    assert.equal(t.code, 0, t.stderr);
    partialJob = await backupAsNobody(
      nobody.start([...cfg, 'serve', '--listen', '127.0.0.1:0'], env, dir),
      t.stdout.trim(),
    );

    // Then a byte of the logs snapshot flips, and the server starts over that repository.
    const file = join(dir, 'repo', 'snapshots', damaged);
    await flipByte(file, Math.floor((await stat(file)).size / 2));
    h = await startHarness({ config: CONFIG, dir });
    const listed = await h.call('GET', '/api/snapshots');
    partial = listed.body.snapshots.find((s: { skippedCount?: number }) => s.skippedCount)?.id;
    assert.ok(partial, listed.text);

    browser = await openBrowser();
    page = browser.page;
    await page.goto(`${h.base}/`);
    await page.getByLabel('API token').fill(h.tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();
  });

  after(async () => {
    await browser?.close();
    await h?.close();
  });

  const step = stepsOn(() => page);

  step(
    'names the damaged snapshot in a banner and lists the others, the partial one with a badge',
    async () => {
      await page.getByRole('link', { name: 'Snapshots', exact: true }).click();
      const banner = page.getByTestId('snapshot-problems');
      await banner.waitFor();
      const text = (await banner.textContent()) ?? '';
      assert.match(text, new RegExp(damaged));
      assert.match(text, /damaged/);
      assert.match(text, /lifeboat forget ID/);
      assert.match(text, /lifeboat repair snapshots --forget/);
      const rows = page.locator('tbody tr');
      assert.equal(await rows.count(), 2);
      assert.equal(await page.locator(`a[href="#/snapshots/${damaged}"]`).count(), 0);
      const badges = page.getByTestId('skipped-badge');
      assert.equal(await badges.count(), 1);
      assert.equal(await badges.textContent(), '1 skipped');
      await page.screenshot({ path: join(ARTIFACTS, 'snapshot-problems.png'), fullPage: true });

      await page.locator(`a[href="#/snapshots/${partial}"]`).click();
      const skipped = page.getByTestId('skipped-paths');
      await skipped.waitFor();
      const list = (await skipped.textContent()) ?? '';
      assert.match(list, /1 path could not be read and is not in this snapshot/);
      assert.ok(list.includes(secret), list);
      assert.match(list, /permission denied/);
    },
  );

  step('the job history shows the partial backup with its warning', async () => {
    await page.getByRole('link', { name: 'History', exact: true }).click();
    const row = page.locator(`tr[data-job="${partialJob}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.badge').textContent(), 'succeeded, partial');
    const warning = (await row.getByTestId('job-warning').textContent()) ?? '';
    assert.ok(warning.includes(`could not be read and is not in the snapshot: ${secret}`), warning);
    assert.equal(await page.getByTestId('job-warning').count(), 1);
  });

  step('the restore wizard sends no_privileges for a files restore and shows it', async () => {
    await page.getByRole('link', { name: 'Restore', exact: true }).click();
    await page.getByRole('heading', { name: 'New restore' }).waitFor();
    await page.getByRole('combobox', { name: /source/i }).selectOption('docs');
    const points = page.getByRole('radiogroup', { name: /Snapshots/ });
    await points.waitFor();
    await points.getByRole('radio').first().check();
    const to = join(h.dir, 'restored');
    await page.getByLabel('Restore to (a path or URL)').fill(to);
    // No data-only choice for files; the device choice appears only without privileges.
    assert.equal(await page.getByRole('checkbox', { name: /Data only/ }).count(), 0);
    assert.equal(await page.getByRole('checkbox', { name: /device nodes all the same/ }).count(), 0);
    await page.getByRole('checkbox', { name: /Without privileges/ }).check();
    await page.getByRole('checkbox', { name: /device nodes all the same/ }).waitFor();
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.locator('[data-testid="restore-job"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    const options = (await page.getByTestId('restore-options').textContent()) ?? '';
    assert.match(options, /no privileges/);
    assert.match(options, /device nodes refused/);
    const jobs = await h.call('GET', '/api/jobs?kind=restore&limit=1');
    const [job] = jobs.body.jobs;
    assert.equal(job.params.no_privileges, true);
    assert.equal(job.params.devices, undefined);
    assert.equal(job.params.dry_run, true);
    assert.equal(job.params.snapshot, partial);
    assert.deepEqual(browser.problems, []);
  });
});

/** Starts a backup of docs through `serve`'s API, waits for it, stops the server; the job's id. */
async function backupAsNobody(server: ChildProcess, token: string): Promise<string> {
  let out = '';
  server.stdout?.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  server.stderr?.resume();
  const exited = new Promise((resolve) => server.once('exit', resolve));
  try {
    let base = '';
    const deadline = Date.now() + 20_000;
    while (!base) {
      base = /serving on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${out}`);
      await sleep(50);
    }
    const call = async (path: string, method = 'GET') => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}` } });
      assert.ok(res.status < 300, `${method} ${path}: ${res.status}`);
      return (await res.json()) as {
        job: { id: string; status: string; error: string | null; result: { status?: string } };
      };
    };
    let { job } = await call('/api/sources/docs/backups', 'POST');
    while (!['succeeded', 'failed'].includes(job.status)) {
      assert.ok(Date.now() < deadline + 30_000, `job ${job.id} is still ${job.status}`);
      await sleep(50);
      ({ job } = await call(`/api/jobs/${job.id}`));
    }
    assert.equal(job.status, 'succeeded', job.error ?? '');
    assert.equal(job.result.status, 'partial');
    return job.id;
  } finally {
    server.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }
}

/** Hands a folder and everything in it to `uid`. */
async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const e of await readdir(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}
