/**
 * @module test/server/source-units
 * A postgres source with two databases and `globals: true` saves three units a run, and stays
 * one source to the user, against a throwaway PostgreSQL server: the real CLI's `forget`
 * applies the source's retention to each unit; `lifeboat serve` (in process) reports the
 * whole run's bytes as the source's, fires no size anomaly for units of very different sizes
 * but does for a database that grew, gives as last good backup the newest run that saved every
 * unit (not a run cut short), and labels each unit for the restore wizard.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { TestClock } from '../../src/clock.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, runCli, tempDir } from '../helpers/cli.js';
import { sql } from '../postgres/pg-helpers.js';
import { eventually, type Harness, PASSWORD, startHarness } from './harness.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED source units against postgres: ${unavailable}`);

interface Listed {
  id: string;
  time: string;
  source: string;
  run?: { id: string; units: string[] };
  backup: { bytesRead: number; bytesAdded: number; durationMs: number };
}

const UNITS = ['shop-db/shop', 'shop-db/extra', 'shop-db/globals'];

/** Rows of text that compress little, so the database dump is far larger than the roles. */
const fill = (from: number, to: number) =>
  `INSERT INTO items SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(${from}, ${to}) g`;

describe('a source saved as several units is one source', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let config: string;
  let configText: string;
  let env: NodeJS.ProcessEnv;
  let h: Harness | undefined;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', config, ...args], env, { cwd: dir });
  async function ok(args: string[]): Promise<CliResult> {
    const r = await cli(args);
    assert.equal(r.code, 0, `lifeboat ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  }
  const snapshots = async (): Promise<Listed[]> => JSON.parse((await ok(['snapshots', '--json'])).stdout);
  /** The server on the same repository, its clock a minute ahead so its backups are the newest. */
  const serve = async () => {
    await h?.close({ keep: true });
    h = await startHarness({ config: configText, dir, clock: new TestClock(new Date(Date.now() + 60_000)) });
    return h;
  };
  const metric = async (name: string) => {
    const text = (await h!.call('GET', '/metrics')).text;
    const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm').exec(
      text,
    );
    assert.ok(m, `${name} not in\n${text}`);
    return Number(m[1]);
  };
  /** The newest run: the snapshots sharing the newest snapshot's run id. */
  const newestRun = (list: Listed[]) => {
    const newest = [...list].sort((a, b) => b.time.localeCompare(a.time))[0];
    return list.filter((s) => s.run?.id === newest.run?.id);
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-units-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE shop');
    await sql(server.url, 'CREATE DATABASE extra');
    await sql(server.url, "CREATE ROLE app_reader LOGIN PASSWORD 'reader-pw'");
    await sql(
      server.urlFor('shop'),
      `CREATE TABLE items (id int PRIMARY KEY, body text); ${fill(1, 20_000)}`,
    );
    await sql(server.urlFor('extra'), 'CREATE TABLE notes (n int); INSERT INTO notes VALUES (1), (2)');
    configText = stringify({
      sources: {
        'shop-db': {
          type: 'postgres',
          url: server.url,
          databases: ['shop', 'extra'],
          globals: true,
          retention: { last: 3 },
        },
      },
    });
    config = join(dir, 'lifeboat.yaml');
    await writeFile(config, configText);
    // The harness's repository and password, so `serve` opens what the CLI wrote.
    env = {
      ...process.env,
      LIFEBOAT_REPO: join(dir, 'repo'),
      LIFEBOAT_PASSWORD: PASSWORD,
      LIFEBOAT_KDF_N: '1024',
    };
    delete env.LIFEBOAT_CONFIG;
    await ok(['init']);
    for (let i = 0; i < 4; i++) await ok(['backup', 'shop-db']);
  });
  after(async () => {
    await h?.close({ keep: true });
    await server?.stop();
    await cleanup?.();
  });

  it('each run saves one snapshot per unit, each naming its run and all the run’s units', async () => {
    const list = await snapshots();
    assert.equal(list.length, 12);
    assert.equal(new Set(list.map((s) => s.run?.id)).size, 4);
    for (const s of list) assert.deepEqual(s.run?.units, UNITS);
  });

  it('forget with the config’s retention applies the source’s policy to every unit (CLI)', async () => {
    const r = await ok(['forget', '--dry-run', '--json']);
    const groups: { source: string; keep: unknown[]; remove: unknown[] }[] = JSON.parse(r.stdout);
    assert.deepEqual(groups.map((g) => g.source).sort(), [...UNITS].sort());
    for (const g of groups) {
      assert.equal(g.keep.length, 3, g.source);
      assert.equal(g.remove.length, 1, g.source);
    }
    const scoped = await ok(['forget', '--dry-run', '--source', 'shop-db']);
    assert.match(scoped.stdout, /source shop-db\/globals:/);
    assert.match(scoped.stdout, /3 snapshots would be removed/);
    assert.equal((await snapshots()).length, 12, 'a dry run removes nothing');
  });

  it('serve: the source’s bytes are its newest whole run, summed; no size anomaly; units labelled', async () => {
    const s = await serve();
    const run = newestRun(await snapshots());
    assert.equal(run.length, 3);
    const bytesOf = (unit: string) => run.find((s) => s.source === unit)!.backup;
    const shop = bytesOf('shop-db/shop').bytesRead;
    const globals = bytesOf('shop-db/globals').bytesRead;
    assert.ok(shop > 200 * globals, `database ${shop} B, roles ${globals} B`);
    const read = await metric('lifeboat_backup_bytes{source="shop-db",type="read"}');
    assert.equal(read, shop + bytesOf('shop-db/extra').bytesRead + globals);
    const stored = await metric('lifeboat_backup_bytes{source="shop-db",type="stored"}');
    assert.equal(
      stored,
      run.reduce((n, s) => n + s.backup.bytesAdded, 0),
    );
    const first = run.reduce((a, b) => (a.time < b.time ? a : b));
    assert.equal(
      await metric('lifeboat_last_success_timestamp_seconds{source="shop-db"}'),
      Date.parse(first.time) / 1000,
    );

    // Four runs of three units each are four backups to the catalog and to the rules.
    const jobs = (await s.call('GET', '/api/jobs?kind=backup&source=shop-db&limit=50')).body.jobs;
    assert.equal(jobs.length, 4);
    for (const j of jobs) assert.equal(j.snapshots.length, 3);
    await s.server.evaluateAlerts();
    const alerts = (await s.call('GET', '/api/alerts?state=firing')).body.alerts;
    assert.deepEqual(
      alerts.map((a: { key: string }) => a.key),
      [],
    );

    const [status] = (await s.call('GET', '/api/sources')).body.sources;
    assert.equal(status.name, 'shop-db');
    assert.equal(status.snapshots, 12);
    assert.equal(status.last_backup.time, first.time);
    assert.deepEqual(
      status.last_backup.units.map((u: { label: string }) => u.label),
      ['shop (database)', 'extra (database)', 'globals (roles and tablespaces)'],
    );

    // What the restore wizard reads: each snapshot with its unit's label.
    const listed = (await s.call('GET', '/api/snapshots?source=shop-db&limit=100')).body.snapshots;
    const labels = new Map(
      listed.map((s: { source: string; unit: { label: string } }) => [s.source, s.unit.label]),
    );
    assert.deepEqual(Object.fromEntries(labels), {
      'shop-db/shop': 'shop (database)',
      'shop-db/extra': 'extra (database)',
      'shop-db/globals': 'globals (roles and tablespaces)',
    });
  });

  it('serve: a database that grew fivefold is a size anomaly, and retention keeps 3 of each unit', async () => {
    await sql(server.urlFor('shop'), fill(20_001, 100_000));
    const r = await h!.call('POST', '/api/sources/shop-db/backups', { token: h!.tokens.operator });
    assert.equal(r.status, 202, r.text);
    const job = await h!.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error ?? '');
    // Alerts are evaluated after the job's final status is recorded (onFinished): wait for it.
    const alerts = await eventually(async () => {
      const firing = (await h!.call('GET', '/api/alerts?state=firing')).body.alerts;
      return firing.length > 0 ? firing : undefined;
    }, 'the size anomaly alert');
    assert.deepEqual(
      alerts.map((a: { key: string }) => a.key),
      ['size_anomaly:shop-db'],
    );
    assert.ok(alerts[0].details.change_percent > 200, JSON.stringify(alerts[0].details));

    // The follow-up forget (the source's retention) ran for each unit.
    const forget = await eventually(async () => {
      const jobs = (await h!.call('GET', '/api/jobs?kind=forget&limit=5')).body.jobs;
      return jobs.find((j: { status: string }) => j.status === 'succeeded');
    }, 'the retention job');
    assert.equal(forget.result.removed.length, 6);
    const left = await snapshots();
    for (const unit of UNITS) assert.equal(left.filter((s) => s.source === unit).length, 3, unit);
    await h!.close({ keep: true });
    h = undefined;
  });

  it('a run cut short is not the last good backup, and forget still keeps 3 of each unit', async () => {
    const before = await snapshots();
    const whole = newestRun(before);
    await sql(server.url, 'DROP DATABASE extra');
    const failed = await cli(['backup', 'shop-db']);
    assert.notEqual(failed.code, 0, 'the backup of a dropped database fails');
    const after = await snapshots();
    const cut = after.filter((s) => !before.some((b) => b.id === s.id));
    assert.ok(cut.length >= 1 && !cut.some((s) => s.source === 'shop-db/extra'), JSON.stringify(cut));

    const s = await serve();
    const [status] = (await s.call('GET', '/api/sources')).body.sources;
    const start = whole.reduce((a, b) => (a.time < b.time ? a : b)).time;
    assert.equal(status.last_backup.time, start);
    assert.equal(status.last_backup.units.length, 3);
    assert.equal(
      await metric('lifeboat_backup_bytes{source="shop-db",type="read"}'),
      whole.reduce((n, s) => n + s.backup.bytesRead, 0),
    );
    await h!.close({ keep: true });
    h = undefined;

    const r = await ok(['forget']);
    assert.match(r.stdout, /source shop-db\/shop:/);
    const left = await snapshots();
    for (const unit of UNITS) assert.equal(left.filter((s) => s.source === unit).length, 3, unit);
  });
});
