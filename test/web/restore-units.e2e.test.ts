/**
 * @module test/web/restore-units.e2e
 * A postgres source saved as units (a database and the roles) in the dashboard, in real
 * headless Chromium against an in-process `lifeboat serve` and a throwaway PostgreSQL
 * server: the overview names the units of the last good backup, and the restore wizard asks
 * which unit to restore, each with its label, then offers that unit's restore points and
 * tables (with "data only" once a table is chosen) through to a dry run.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { stringify } from 'yaml';
import { TestClock } from '../../src/clock.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { sql } from '../postgres/pg-helpers.js';
import { type Harness, startHarness } from '../server/harness.js';
import { ARTIFACTS, type Browser, chromiumMissing, openBrowser, stepsOn } from './browser.js';

const skip = chromiumMissing || (postgresUnavailable() ?? false);
if (skip) console.log(`SKIPPED restore wizard with units: ${skip}`);

describe('the dashboard with a source saved as units', { skip, timeout: 180_000 }, () => {
  const step = stepsOn(() => page);
  let server: PostgresServer;
  let h: Harness;
  let browser: Browser;
  let page: Page;

  before(async () => {
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE shop');
    await sql(
      server.urlFor('shop'),
      'CREATE TABLE items (id int); INSERT INTO items SELECT generate_series(1, 200)',
    );
    h = await startHarness({
      config: stringify({
        sources: { 'shop-db': { type: 'postgres', url: server.url, databases: ['shop'], globals: true } },
      }),
      clock: new TestClock(new Date()),
    });
    const r = await h.call('POST', '/api/sources/shop-db/backups', { token: h.tokens.operator });
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error ?? '');
    browser = await openBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await h?.close();
    await server?.stop();
  });

  step('names the units in the overview and in the restore wizard, through to a dry run', async () => {
    await page.goto(`${h.base}/`);
    await page.getByLabel('API token').fill(h.tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const row = page.locator('tr[data-source="shop-db"]');
    await row
      .getByTestId('last-units')
      .filter({ hasText: 'shop (database), globals (roles and tablespaces)' })
      .waitFor();

    await page.getByRole('link', { name: 'Restore', exact: true }).click();
    await page.getByRole('heading', { name: 'New restore' }).waitFor();
    await page.getByRole('combobox', { name: /source/i }).selectOption('shop-db');
    const units = page.getByTestId('restore-units');
    await units.waitFor();
    assert.equal(await units.getByRole('radio').count(), 2);
    assert.equal(await units.getByRole('radio', { name: 'globals (roles and tablespaces)' }).count(), 1);
    assert.equal(await units.getByRole('radio', { name: 'shop (database)' }).count(), 1);
    // No restore point until a unit is chosen; then only that unit's.
    assert.equal(await page.getByRole('radiogroup', { name: /Snapshots/ }).count(), 0);
    await units.getByRole('radio', { name: 'shop (database)' }).check();
    const points = page.getByRole('radiogroup', { name: /Snapshots/ });
    await points.waitFor();
    assert.equal(await points.getByRole('radio').count(), 1);
    assert.match((await points.textContent()) ?? '', /shop \(database\)/);
    await points.getByRole('radio').first().check();
    await page.getByLabel('Restore to (a path or URL)').fill(server.urlFor('shop_copy'));
    await page.getByRole('checkbox', { name: 'public.items' }).waitFor();
    // Data only is offered for chosen tables of a PostgreSQL snapshot, and no privilege options.
    const dataOnly = page.getByRole('checkbox', { name: /Data only/ });
    assert.equal(await dataOnly.count(), 0);
    assert.equal(await page.getByRole('checkbox', { name: /Without privileges/ }).count(), 0);
    await page.getByRole('checkbox', { name: 'public.items' }).check();
    await dataOnly.waitFor();
    await page.getByRole('checkbox', { name: 'public.items' }).uncheck();
    assert.equal(await dataOnly.count(), 0);
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.locator('[data-testid="restore-job"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    await page.getByText('Would restore 1 table (public.items: 200 rows)').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'restore-units.png'), fullPage: true });
    assert.deepEqual(browser.problems, []);
  });
});
