/**
 * @module test/web/dashboard.e2e
 * The dashboard end to end in real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core) against an in-process `lifeboat serve`: sign in with a token (by keyboard
 * too), see the sources, start a backup and watch it finish, browse a snapshot and download
 * a file, open the charts, walk the restore wizard (dry run, then a protected restore that
 * waits) and have a second admin approve it, and the overview at a phone's width. No console
 * error, no request to another origin. Screenshots go to test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { TestClock } from '../../src/clock.js';
import { type Harness, startHarness } from '../server/harness.js';
import { ARTIFACTS, type Browser, chromiumMissing, openBrowser, stepsOn } from './browser.js';

const CONFIG = `
sources:
  app-db:
    type: sqlite
    path: $DIR/app.db
    protected: true
    max_age: 26h
  uploads:
    type: files
    path: $DIR/uploads
    max_age: 2h
    hooks:
      after_backup: sleep 2
`;

const skip = chromiumMissing;
if (skip) console.log(`SKIPPED dashboard end-to-end tests: ${skip}`);

describe('dashboard in headless Chromium', { skip, timeout: 180_000 }, () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  const shot = async (name: string) => {
    const path = join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
  };

  const signIn = async (token: string, who: string) => {
    await page.goto(`${h.base}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').filter({ hasText: who }).waitFor();
  };

  const step = stepsOn(() => page);

  before(async () => {
    h = await startHarness({
      config: CONFIG,
      clock: new TestClock(new Date()),
      files: { 'uploads/report.txt': 'quarterly numbers\n', 'uploads/img/logo.svg': '<svg/>\n' },
    });
    const db = new Database(join(h.dir, 'app.db'));
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE orders (id INTEGER)');
    const insert = db.prepare('INSERT INTO users (name) VALUES (?)');
    for (let i = 0; i < 120; i++) insert.run(`user ${i}`);
    db.close();
    browser = await openBrowser({ acceptDownloads: true });
    ({ page, problems } = browser);
    page.on('request', (r) => {
      if (!r.url().startsWith(h.base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:'))
        problems.push(`request to another origin: ${r.url()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await h?.close();
  });

  step('signs in with a token and shows every source with its RPO state', async () => {
    await page.goto(`${h.base}/`);
    await page.getByLabel('API token').waitFor();
    // What the first view transferred (compressed bodies and headers), as the browser counts it.
    const transferred = await page.evaluate(() =>
      [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].reduce(
        (n, e) => n + (e as PerformanceResourceTiming).transferSize,
        0,
      ),
    );
    console.log(`first view transferred ${(transferred / 1024).toFixed(1)} KiB`);
    assert.ok(transferred > 0 && transferred < 300 * 1024, `first view ${transferred} bytes`);
    await shot('01-sign-in');
    await signIn(h.tokens.admin, 'admin (admin)');
    const row = page.locator('tr[data-source="uploads"]');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /files/);
    assert.match((await page.locator('tr[data-source="app-db"]').textContent()) ?? '', /protected/);
    // Never backed up, and not yet past max_age.
    assert.match(
      (await page.locator('.summary').textContent()) ?? '',
      /2 sources · 0 in breach of their RPO · 0 failing/,
    );
    // The admin sees every view; the token is in sessionStorage, not in a cookie or the URL.
    for (const name of [
      'Overview',
      'History',
      'Charts',
      'Snapshots',
      'Restore',
      'Drills',
      'Alerts',
      'Audit log',
    ]) {
      await page.getByRole('link', { name, exact: true }).waitFor();
    }
    assert.equal(await page.evaluate(() => document.cookie), '');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('lifeboat.token')), h.tokens.admin);
    assert.doesNotMatch(page.url(), /lb_/);
    await shot('02-overview');
  });

  step('starts a backup and shows it finish', async () => {
    for (const source of ['uploads', 'app-db']) {
      await page.getByRole('button', { name: `Back up ${source} now` }).click();
      const row = page.locator(`tr[data-source="${source}"]`);
      if (source === 'uploads') {
        // Its hook holds the job in `running` for 2 s after the data is read: the row shows it live.
        await row
          .locator('.live')
          .filter({ hasText: /running\s+backup uploads\s+\d+ B/ })
          .waitFor();
        await shot('03-backup-running');
      }
      // The job shows under the row until it is final; then the row names the new snapshot.
      await row.getByText('succeeded').first().waitFor({ timeout: 30_000 });
      await row.getByRole('link').first().waitFor();
      h.clock.tick(60_000);
    }
    await page.getByRole('status').filter({ hasText: 'Backup of app-db started' }).waitFor();
    await shot('04-backups-finished');
  });

  step('lists the jobs with their bytes and dedup ratio', async () => {
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.locator('tr[data-job]').nth(1).waitFor();
    const text = (await page.locator('table').textContent()) ?? '';
    assert.match(text, /backup\s*uploads/);
    assert.match(text, /succeeded/);
    assert.match(text, /\d+(\.\d+)?×/);
    await page.getByLabel('Status').selectOption('failed');
    await page.getByText('No jobs match.').waitFor();
    await page.getByLabel('Status').selectOption('');
    await shot('05-history');
  });

  step('browses a snapshot and downloads one file', async () => {
    await page.getByRole('link', { name: 'Snapshots', exact: true }).click();
    await page.getByRole('combobox', { name: /source/i }).selectOption('uploads');
    await page.locator('tbody tr').first().getByRole('link').click();
    await page.getByRole('button', { name: 'Open folder img' }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download report.txt' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'report.txt');
    assert.equal(await readFile((await download.path()) as string, 'utf8'), 'quarterly numbers\n');
    await page.getByRole('button', { name: 'Open folder img' }).click();
    await page.getByRole('rowheader', { name: 'logo.svg' }).waitFor();
    await shot('06-snapshot-tree');
    // A database snapshot shows its tables with row counts.
    await page.getByRole('link', { name: 'Snapshots', exact: true }).click();
    await page.getByRole('combobox', { name: /source/i }).selectOption('app-db');
    await page.locator('tbody tr').first().getByRole('link').click();
    const rows = page.getByRole('table', { name: 'Tables and their row counts' });
    await rows.waitFor();
    assert.match((await rows.textContent()) ?? '', /users\s*120/);
    await shot('07-snapshot-database');
  });

  step('draws the charts', async () => {
    await page.getByRole('link', { name: 'Charts', exact: true }).click();
    await page.locator('.uplot canvas').nth(4).waitFor();
    assert.equal(await page.locator('figure.chart').count(), 5);
    await shot('08-charts');
  });

  step('walks the restore wizard to a protected restore that a second admin approves', async () => {
    const target = join(h.dir, 'restored.db');
    await page.getByRole('link', { name: 'Restore', exact: true }).click();
    // The previous view (charts, with their own Source filter) may still be on screen.
    await page.getByRole('heading', { name: 'New restore' }).waitFor();
    await page.getByRole('combobox', { name: /source/i }).selectOption('app-db');
    await page.getByText('is protected').waitFor();
    await page.getByRole('radio').first().check();
    await page.getByLabel('Restore to (a path or URL)').fill(target);
    await page.getByRole('checkbox', { name: 'users' }).check();
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.locator('[data-testid="restore-job"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    assert.ok(!existsSync(target), 'a dry run writes nothing');
    await page.getByText('Would restore 1 table (users: 120 rows) to').waitFor();
    await page.getByRole('button', { name: /^Restore [0-9a-f]{8} to / }).click();
    await page.locator('[data-testid="restore-job"][data-status="awaiting_approval"]').waitFor();
    await page.getByText('You requested it: another admin must approve.').waitFor();
    // The requester may withdraw it, not approve it.
    await page.getByRole('button', { name: /^Withdraw restore / }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Approve restore / }).count(), 0);
    await shot('09-restore-awaiting-approval');

    // The second admin signs in by keyboard only and approves.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    // The token field has the focus: the keyboard user types at once.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token');
    await page.keyboard.type(h.tokens.admin2);
    await page.keyboard.press('Enter');
    await page.getByTestId('whoami').filter({ hasText: 'admin2 (admin)' }).waitFor();
    await page.getByRole('link', { name: 'Restore', exact: true }).click();
    await page.getByRole('button', { name: /^Reject restore / }).waitFor();
    const approve = page.getByRole('button', { name: /^Approve restore / });
    await approve.focus();
    await page.keyboard.press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: /Approved restore/ })
      .waitFor();
    const jobs = await h.call('GET', '/api/jobs?kind=restore&limit=5');
    const real = jobs.body.jobs.find((j: { params: { dry_run: boolean } }) => !j.params.dry_run);
    const done = await h.waitJob(real.id);
    assert.equal(done.status, 'succeeded', done.error);
    assert.equal(done.approved_by, 'admin2');
    assert.ok(existsSync(target));
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.getByText('approved by admin2').waitFor();
    await shot('10-restore-approved');
  });

  step('starts a drill, shows its report, the alerts and the verified audit log', async () => {
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.getByRole('button', { name: 'Start a restore drill of app-db' }).click();
    await page.getByRole('status').filter({ hasText: 'Drill of app-db started' }).waitFor();
    const drill = await h.call('GET', '/api/jobs?kind=drill&limit=1');
    assert.equal((await h.waitJob(drill.body.jobs[0].id)).status, 'succeeded');
    await page.getByRole('link', { name: 'Drills', exact: true }).click();
    await page.locator('tbody tr').first().getByRole('link').click();
    const checks = page.getByRole('table', { name: 'Checks' });
    await checks.waitFor();
    assert.match((await checks.textContent()) ?? '', /ok/);
    await page.getByText('passed').first().waitFor();
    await shot('11-drill-report');
    h.clock.tick(3 * 3_600_000);
    await h.server.evaluateAlerts();
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.getByText('rpo_breach').first().waitFor();
    await page.getByRole('link', { name: 'Audit log', exact: true }).click();
    await page.getByText(/Hash chain verified: \d+ entries/).waitFor();
    await page.getByText('restore.approve', { exact: true }).waitFor();
    await shot('12-audit-log');
  });

  step('shows a viewer no audit log, no restore and no backup button', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(h.tokens.viewer, 'viewer (viewer)');
    assert.equal(await page.getByRole('link', { name: 'Audit log' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Restore', exact: true }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Back up / }).count(), 0);
  });

  step('fits a phone’s width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${h.base}/#/`);
    await page.locator('tr[data-source="uploads"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await shot('13-phone-overview');
  });

  it('logged no console error and asked no other origin', () => {
    assert.deepEqual(problems, []);
  });
});
