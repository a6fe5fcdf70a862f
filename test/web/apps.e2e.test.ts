/**
 * @module test/web/apps.e2e
 * Applications in the dashboard, in real headless Chromium against an in-process
 * `lifeboat serve`: an app of a folder and a SQLite database, a point and a drill taken
 * through the API. The overview lists the app with its latest point and drill RTO; the Apps
 * view lists the points, and the restore form shows the plan (what each target holds) before
 * the restore is confirmed. Into staging it runs at once; into protected production it awaits
 * approval, which a second admin gives on the same page after reading the kept plan.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { TestClock } from '../../src/clock.js';
import { type Harness, startHarness } from '../server/harness.js';
import { ARTIFACTS, type Browser, chromiumMissing, openBrowser, stepsOn } from './browser.js';

const skip = chromiumMissing;
if (skip) console.log(`SKIPPED apps dashboard: ${skip}`);

describe('the dashboard: applications', { skip, timeout: 180_000 }, () => {
  const step = stepsOn(() => page);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let point: string;

  before(async () => {
    h = await startHarness({
      config: `
sources:
  docs:
    type: files
    path: $DIR/docs
  db:
    type: sqlite
    path: $DIR/app.db
apps:
  site:
    sources: [docs, db]
    environments:
      staging:
        targets: { docs: $DIR/staging/docs, db: $DIR/staging/app.db }
      production:
        protected: true
        targets: { docs: $DIR/prod/docs, db: $DIR/prod/app.db }
`,
      files: { 'docs/index.html': '<h1>site</h1>\n', 'prod/docs/live.html': 'live\n' },
      clock: new TestClock(new Date()),
    });
    const db = new Database(join(h.dir, 'app.db'));
    db.exec(
      "CREATE TABLE pages (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO pages (title) VALUES ('home')",
    );
    db.close();
    const b = await h.call('POST', '/api/apps/site/backups', { token: h.tokens.operator });
    const backup = await h.waitJob(b.body.job.id);
    assert.equal(backup.status, 'succeeded', backup.error ?? '');
    point = backup.result.point;
    const d = await h.call('POST', '/api/apps/site/drills', { token: h.tokens.operator });
    assert.equal((await h.waitJob(d.body.job.id)).status, 'succeeded');
    browser = await openBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await h?.close();
  });

  const signIn = async (token: string) => {
    await page.goto(`${h.base}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();
  };

  step('the overview lists the application with its latest point and drill RTO', async () => {
    await signIn(h.tokens.operator);
    const row = page.locator('tr[data-app="site"]');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', new RegExp(point.slice(0, 8)));
    const apps = await h.call('GET', '/api/apps', { token: h.tokens.viewer });
    const rto = `${(apps.body.apps[0].last_drill.rto_ms / 1000).toFixed(1)}s`;
    await row
      .getByTestId('app-rto')
      .filter({ hasText: `${rto} passed` })
      .waitFor();
  });

  step('shows the plan before restoring to staging, then restores', async () => {
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await page.getByRole('link', { name: 'site', exact: true }).click();
    await page.locator(`tr[data-point="${point}"]`).waitFor();
    await page.getByRole('combobox', { name: 'Environment' }).selectOption('staging');
    assert.equal(
      await page.getByRole('button', { name: 'Restore to staging' }).count(),
      0,
      'no restore before the plan',
    );
    await page.getByRole('button', { name: 'Show the plan' }).click();
    const plan = page.getByTestId('app-plan');
    await plan.waitFor();
    await plan.locator('tr[data-plan-source="docs"]').filter({ hasText: 'nothing there yet' }).waitFor();
    await plan.filter({ hasText: `from point ${point.slice(0, 8)}` }).waitFor();
    const points = await h.call('GET', '/api/apps/site/points', { token: h.tokens.viewer });
    const dbSnapshot = points.body.points[0].sources[1].snapshots[0].id.slice(0, 8);
    await plan
      .locator('tr[data-plan-source="db"]')
      .filter({ hasText: `snapshot ${dbSnapshot}` })
      .waitFor();
    await page.getByRole('button', { name: 'Restore to staging' }).click();
    await page.locator('[data-testid="app-job"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    assert.equal(await readFile(join(h.dir, 'staging', 'docs', 'index.html'), 'utf8'), '<h1>site</h1>\n');
    const copy = new Database(join(h.dir, 'staging', 'app.db'), { readonly: true });
    assert.deepEqual(copy.prepare('SELECT title FROM pages').all(), [{ title: 'home' }]);
    copy.close();
  });

  step('a protected environment awaits approval, which a second admin gives', async () => {
    await page.getByRole('combobox', { name: 'Environment' }).selectOption('production');
    await page.getByRole('button', { name: 'Show the plan' }).click();
    const plan = page.getByTestId('app-plan');
    await plan.filter({ hasText: 'protected: a second admin approves' }).waitFor();
    await plan.locator('tr[data-plan-source="docs"]').filter({ hasText: '1 file' }).waitFor();
    await page.getByRole('button', { name: 'Ask to restore to production' }).click();
    await page.locator('[data-testid="app-job"][data-status="awaiting_approval"]').waitFor();
    await page.getByText('This environment is protected: a second admin').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'apps-plan.png'), fullPage: true });
    assert.deepEqual(await readdir(join(h.dir, 'prod', 'docs')), ['live.html']);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(h.tokens.admin);
    await page.goto(`${h.base}/#/apps/site`);
    const card = page.locator('[data-approval]');
    await card.getByTestId('app-plan').waitFor();
    await card.getByRole('button', { name: /^Approve restore/ }).click();
    await page.getByText(/Approved restore [0-9a-f]{8}; it runs now/).waitFor();
    const jobs = await h.call('GET', '/api/jobs?kind=app_restore', { token: h.tokens.viewer });
    const prod = jobs.body.jobs.find((j: { params: { env: string } }) => j.params.env === 'production');
    assert.equal((await h.waitJob(prod.id)).status, 'succeeded');
    assert.equal(await readFile(join(h.dir, 'prod', 'docs', 'index.html'), 'utf8'), '<h1>site</h1>\n');
    assert.deepEqual(browser.problems, []);
  });
});
