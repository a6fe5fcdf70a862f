/**
 * @module test/catalog/catalog-contract
 * One set of cases for the catalog contract (catalog/catalog-store), run against every home
 * it has: PostgreSQL on a throwaway server and the SQLite file. Each factory gives a fresh,
 * empty catalog and raw SQL access as the database's owner (to tamper with the audit chain
 * the way someone with write access could). After the shared cases, PostgreSQL's own: several
 * processes appending to one chain, concurrent opens racing on the migrations, a catalog
 * from a newer version refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteCatalog } from '../../src/catalog/catalog.js';
import type { CatalogStore } from '../../src/catalog/catalog-store.js';
import { PgCatalog } from '../../src/catalog/pg-catalog.js';
import { PG_SCHEMA_VERSION } from '../../src/catalog/pg-migrations.js';
import { TestClock } from '../../src/clock.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';

interface CatalogUnderTest {
  catalog: CatalogStore;
  /** The same catalog opened again, as another process would (its own connections). */
  reopen(): Promise<CatalogStore>;
  /** Runs SQL on the catalog's tables (unqualified names) as their owner; the audit's append-only rule applies. */
  exec(sql: string): Promise<void>;
  /** The same with the append-only rule switched off: what write access to the database allows. */
  execBypassingRules(sql: string): Promise<void>;
}

interface CatalogFactory {
  name: string;
  /** Why this home cannot be tested here (printed), e.g. a server binary is missing. */
  skip?: string;
  /** Once, before the cases (start a server). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** A fresh, empty catalog; what it opened is closed by the suite through `closers`. */
  make(clock: TestClock, closers: (() => Promise<void>)[]): Promise<CatalogUnderTest>;
}

// ---- PostgreSQL ----------------------------------------------------------------------------

let server: PostgresServer | undefined;
let schemas = 0;

async function pgExec(url: string, schema: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${schema}"`);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const postgresFactory: CatalogFactory = {
  name: 'postgres',
  skip: postgresUnavailable() ?? undefined,
  async setup() {
    server = await startPostgres();
  },
  async teardown() {
    await server?.stop();
  },
  async make(clock, closers) {
    const url = server!.url;
    // A schema per case: one server, no state shared between cases.
    const schema = `case_${++schemas}`;
    const open = async () => {
      const c = await PgCatalog.open(url, clock, { schema });
      closers.push(() => c.close());
      return c;
    };
    return {
      catalog: await open(),
      reopen: open,
      exec: (sql) => pgExec(url, schema, sql),
      execBypassingRules: (sql) =>
        pgExec(
          url,
          schema,
          `BEGIN; ALTER TABLE audit DISABLE TRIGGER USER; ${sql}; ALTER TABLE audit ENABLE TRIGGER USER; COMMIT;`,
        ),
    };
  },
};

// ---- SQLite --------------------------------------------------------------------------------

function sqliteExec(path: string, sql: string): void {
  const db = new Database(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

const APPEND_ONLY = `
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`;

const sqliteFactory: CatalogFactory = {
  name: 'sqlite',
  async make(clock, closers) {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-catalog-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'catalog.sqlite');
    const open = async () => {
      const c = SqliteCatalog.open(path, clock);
      closers.push(() => c.close());
      return c;
    };
    return {
      catalog: await open(),
      reopen: open,
      exec: async (sql) => sqliteExec(path, sql),
      execBypassingRules: async (sql) =>
        sqliteExec(
          path,
          `DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ${sql}; ${APPEND_ONLY}`,
        ),
    };
  },
};

const FACTORIES: CatalogFactory[] = [postgresFactory, sqliteFactory];

// ---- the cases -----------------------------------------------------------------------------

const usage = { name: 'LifeboatError', code: 'usage' };
const notFound = { name: 'LifeboatError', code: 'not_found' };

function runCatalogContract(factory: CatalogFactory): void {
  const title = `catalog contract: ${factory.name}`;
  if (factory.skip) {
    console.log(`SKIPPED ${title}: ${factory.skip}`);
    describe(title, { skip: factory.skip }, () => {});
    return;
  }

  /** A fresh catalog on a test clock; everything opened is closed after `fn`. */
  async function withCatalog(fn: (t: CatalogUnderTest, clock: TestClock) => Promise<void>): Promise<void> {
    const clock = new TestClock('2026-03-01T10:00:00Z');
    const closers: (() => Promise<void>)[] = [];
    try {
      await fn(await factory.make(clock, closers), clock);
    } finally {
      for (const close of closers.reverse()) await close();
    }
  }

  describe(title, () => {
    before(() => factory.setup?.());
    after(() => factory.teardown?.());

    test('a new catalog says so; opened again it does not; meta is kept', () =>
      withCatalog(async ({ catalog, reopen }) => {
        assert.equal(catalog.created, true);
        assert.equal(catalog.kind, factory.name);
        assert.doesNotMatch(catalog.location, /S3cret|pw:/);
        await catalog.ping();
        assert.equal(await catalog.getMeta('repo_id'), undefined);
        await catalog.setMeta('repo_id', 'abc');
        await catalog.setMeta('repo_id', 'def');
        const again = await reopen();
        assert.equal(again.created, false);
        assert.equal(await again.getMeta('repo_id'), 'def');
      }));

    test('createJob: 16 hex characters of id, the fields as given, secrets dropped from params and error', () =>
      withCatalog(async ({ catalog }) => {
        const job = await catalog.createJob({
          kind: 'restore',
          source: 'app-db',
          trigger: 'api',
          status: 'awaiting_approval',
          requested_by: 'ops',
          params: {
            to: 'postgres://app:hunter2@db:5432/shop',
            tags: ['a'],
            deep: { url: 's3://k:s@h/b?sig=xyz' },
          },
          owner: 'host:1:ab',
        });
        assert.match(job.id, /^[0-9a-f]{16}$/);
        assert.equal(job.status, 'awaiting_approval');
        assert.equal(job.created_at, '2026-03-01T10:00:00.000Z');
        assert.equal(job.started_at, null);
        assert.equal(job.requested_by, 'ops');
        assert.equal(job.owner, 'host:1:ab');
        assert.equal(job.rebuilt, false);
        assert.deepEqual(job.snapshots, []);
        assert.equal(job.snapshot, null);
        assert.equal(job.result, null);
        assert.deepEqual(job.params, {
          to: 'postgres://app@db:5432/shop',
          tags: ['a'],
          deep: { url: 's3://k@h/b?sig=redacted' },
        });
        assert.deepEqual(await catalog.getJob(job.id), job);

        const skipped = await catalog.createJob({
          kind: 'backup',
          source: 'docs',
          trigger: 'schedule',
          status: 'skipped',
          error: 'cannot reach mysql://root:topsecret@db/x',
        });
        assert.equal(skipped.started_at, skipped.created_at);
        assert.equal(skipped.finished_at, skipped.created_at);
        assert.equal(skipped.error, 'cannot reach mysql://root@db/x');
        assert.deepEqual(skipped.params, {});
        assert.equal(await catalog.getJob('0000000000000000'), undefined);
      }));

    test('findJob: the id, a unique prefix, nothing for a non-hex or unknown ref, usage error when ambiguous', () =>
      withCatalog(async ({ catalog }) => {
        const job = await catalog.createJob({
          kind: 'check',
          source: null,
          trigger: 'cli',
          status: 'queued',
        });
        assert.equal((await catalog.findJob(job.id))?.id, job.id);
        assert.equal((await catalog.findJob(job.id.slice(0, 12)))?.id, job.id);
        assert.equal(await catalog.findJob('zzzz'), undefined);
        assert.equal(await catalog.findJob('abc'), undefined);
        // Enough jobs that two ids share their first four characters.
        await catalog.insertFinishedJobs(
          Array.from({ length: 1500 }, () => finished('2026-01-01T00:00:00.000Z')),
        );
        const ids = (await catalog.listJobs({ limit: 2000 })).map((j) => j.id);
        const seen = new Map<string, string>();
        let shared: string | undefined;
        for (const id of ids) {
          if (seen.has(id.slice(0, 4))) shared = id.slice(0, 4);
          seen.set(id.slice(0, 4), id);
        }
        assert.ok(shared, 'no two ids share a prefix (astronomically unlikely)');
        await assert.rejects(catalog.findJob(shared), usage);
      }));

    test('updateJob: fields set, snapshots linked with the job, secrets dropped from result and error', () =>
      withCatalog(async ({ catalog }, clock) => {
        const job = await catalog.createJob({
          kind: 'backup',
          source: 'docs',
          trigger: 'api',
          status: 'queued',
        });
        clock.tick(1000);
        const running = await catalog.updateJob(job.id, {
          status: 'running',
          started_at: clock.now().toISOString(),
          owner: 'me',
        });
        assert.equal(running.status, 'running');
        assert.equal(running.started_at, '2026-03-01T10:00:01.000Z');
        const done = await catalog.updateJob(job.id, {
          status: 'succeeded',
          finished_at: '2026-03-01T10:00:09.000Z',
          bytes_read: 5_000_000_000,
          bytes_stored: 12,
          snapshots: ['aaaa1111', 'bbbb2222'],
          result: { target: 'postgres://u:pw@h/db', files: 3 },
          error: null,
        });
        assert.equal(done.snapshot, 'aaaa1111');
        assert.deepEqual(done.snapshots, ['aaaa1111', 'bbbb2222']);
        assert.equal(done.bytes_read, 5_000_000_000);
        assert.equal(done.bytes_stored, 12);
        assert.deepEqual(done.result, { target: 'postgres://u@h/db', files: 3 });
        assert.equal(done.owner, 'me');
        assert.deepEqual(await catalog.knownSnapshots(), new Set(['aaaa1111', 'bbbb2222']));
        const failed = await catalog.updateJob(job.id, {
          error: 'at redis://:secret@cache:6379/0',
          result: null,
        });
        assert.equal(failed.error, 'at redis://cache:6379/0');
        assert.equal(failed.result, null);
        assert.deepEqual(await catalog.getJob(job.id), failed);
      }));

    test('listJobs: newest first (ties: the later created first), each filter, limit 100 by default', () =>
      withCatalog(async ({ catalog }, clock) => {
        const made: string[] = [];
        for (let i = 0; i < 6; i++) {
          const kind = i % 2 === 0 ? 'backup' : 'check';
          const j = await catalog.createJob({
            kind,
            source: kind === 'backup' ? (i < 3 ? 'docs' : 'app') : null,
            trigger: 'schedule',
            status: i === 5 ? 'queued' : 'skipped',
          });
          made.push(j.id);
          if (i !== 1) clock.tick(60_000); // jobs 1 and 2 share their created_at
        }
        const all = (await catalog.listJobs()).map((j) => j.id);
        assert.deepEqual(all, [...made].reverse());
        assert.deepEqual(
          (await catalog.listJobs({ source: 'docs' })).map((j) => j.id),
          [made[2], made[0]],
        );
        assert.deepEqual(
          (await catalog.listJobs({ kind: 'check' })).map((j) => j.id),
          [made[5], made[3], made[1]],
        );
        assert.deepEqual(
          (await catalog.listJobs({ status: 'queued' })).map((j) => j.id),
          [made[5]],
        );
        const t = (await catalog.getJob(made[3]))!.created_at;
        assert.deepEqual(
          (await catalog.listJobs({ since: t })).map((j) => j.id),
          [made[5], made[4], made[3]],
        );
        assert.deepEqual(
          (await catalog.listJobs({ before: t })).map((j) => j.id),
          [made[2], made[1], made[0]],
        );
        assert.deepEqual(
          (await catalog.listJobs({ limit: 2 })).map((j) => j.id),
          [made[5], made[4]],
        );
        await catalog.insertFinishedJobs(
          Array.from({ length: 120 }, () => finished('2026-01-01T00:00:00.000Z')),
        );
        assert.equal((await catalog.listJobs()).length, 100);
      }));

    test('updateJob progress: stored as given, read back by another connection, listed, cleared by null', () =>
      withCatalog(async ({ catalog, reopen }) => {
        const job = await catalog.createJob({
          kind: 'backup',
          source: 'docs',
          trigger: 'api',
          status: 'queued',
        });
        assert.equal(job.progress, undefined);
        await catalog.updateJob(job.id, { status: 'running', progress: PROGRESS });
        const other = await reopen();
        assert.deepEqual((await other.getJob(job.id))?.progress, PROGRESS);
        assert.deepEqual((await other.listJobs())[0].progress, PROGRESS);
        const later = { ...PROGRESS, files_done: 9, bytes_done: 9000, percent: 90 };
        await other.updateJob(job.id, { progress: later });
        assert.deepEqual((await catalog.getJob(job.id))?.progress, later);
        const done = await catalog.updateJob(job.id, { status: 'succeeded', progress: null });
        assert.equal(done.progress, undefined);
        assert.equal((await other.getJob(job.id))?.progress, undefined);
      }));

    test('activeJobs: queued and running only, oldest first', () =>
      withCatalog(async ({ catalog }, clock) => {
        const a = await catalog.createJob({
          kind: 'backup',
          source: 'docs',
          trigger: 'api',
          status: 'queued',
        });
        clock.tick(1000);
        const b = await catalog.createJob({ kind: 'prune', source: null, trigger: 'api', status: 'queued' });
        await catalog.createJob({
          kind: 'restore',
          source: 'docs',
          trigger: 'api',
          status: 'awaiting_approval',
        });
        const c = await catalog.createJob({ kind: 'check', source: null, trigger: 'api', status: 'queued' });
        await catalog.updateJob(a.id, { status: 'running' });
        await catalog.updateJob(c.id, { status: 'succeeded' });
        assert.deepEqual(
          (await catalog.activeJobs()).map((j) => [j.id, j.status]),
          [
            [a.id, 'running'],
            [b.id, 'queued'],
          ],
        );
      }));

    test('recentBackups, lastFinished, lastFailure: by start time, newest first, finished ones only', () =>
      withCatalog(async ({ catalog }) => {
        await catalog.insertFinishedJobs([
          finished('2026-02-01T00:00:00.000Z', { status: 'succeeded', snapshots: ['s1'] }),
          finished('2026-02-02T00:00:00.000Z', { status: 'failed', error: 'disk full' }),
          finished('2026-02-03T00:00:00.000Z', { status: 'succeeded', snapshots: ['s3'] }),
          finished('2026-02-04T00:00:00.000Z', { status: 'interrupted' }),
          finished('2026-02-05T00:00:00.000Z', { status: 'skipped' }),
          finished('2026-02-06T00:00:00.000Z', { source: 'other', status: 'failed' }),
          finished('2026-02-07T00:00:00.000Z', { kind: 'prune', source: null, status: 'succeeded' }),
          finished('2026-02-08T00:00:00.000Z', { kind: 'prune', source: null, status: 'skipped' }),
        ]);
        const recent = await catalog.recentBackups('docs', 2);
        assert.deepEqual(
          recent.map((j) => [j.started_at, j.status]),
          [
            ['2026-02-03T00:00:00.000Z', 'succeeded'],
            ['2026-02-02T00:00:00.000Z', 'failed'],
          ],
        );
        assert.equal((await catalog.recentBackups('docs', 10)).length, 3);
        assert.equal((await catalog.lastFinished('backup', 'docs'))?.started_at, '2026-02-03T00:00:00.000Z');
        assert.equal((await catalog.lastFinished('prune', null))?.started_at, '2026-02-07T00:00:00.000Z');
        assert.equal(await catalog.lastFinished('check', null), undefined);
        assert.equal((await catalog.lastFailure('docs'))?.error, 'disk full');
        assert.equal((await catalog.lastFailure('other'))?.started_at, '2026-02-06T00:00:00.000Z');
        assert.equal(await catalog.lastFailure('nothing'), undefined);
      }));

    test('lastBackupOutcomes: every source at once, the same jobs as lastFinished and lastFailure', () =>
      withCatalog(async ({ catalog }) => {
        await catalog.insertFinishedJobs([
          finished('2026-02-01T00:00:00.000Z', { status: 'failed', error: 'old failure' }),
          finished('2026-02-02T00:00:00.000Z', { status: 'failed', error: 'disk full' }),
          finished('2026-02-03T00:00:00.000Z', { status: 'succeeded', snapshots: ['s3'] }),
          finished('2026-02-04T00:00:00.000Z', { status: 'interrupted' }),
          // Same start: the later inserted one is the newer.
          finished('2026-02-05T00:00:00.000Z', { source: 'tie', status: 'succeeded', snapshots: ['t1'] }),
          finished('2026-02-05T00:00:00.000Z', { source: 'tie', status: 'succeeded', snapshots: ['t2'] }),
          finished('2026-02-06T00:00:00.000Z', { source: 'only-failed', status: 'failed', error: 'no' }),
          finished('2026-02-07T00:00:00.000Z', { source: 'skipped', status: 'skipped' }),
          finished('2026-02-08T00:00:00.000Z', { kind: 'drill', source: 'docs', status: 'failed' }),
        ]);
        // A job with no start yet counts by its creation time.
        const queuedThenFailed = await catalog.createJob({
          kind: 'backup',
          source: 'fresh',
          trigger: 'api',
          status: 'queued',
        });
        await catalog.updateJob(queuedThenFailed.id, { status: 'failed', error: 'refused' });
        const names = ['docs', 'tie', 'only-failed', 'skipped', 'fresh', 'nothing'];
        const outcomes = await catalog.lastBackupOutcomes(names);
        assert.deepEqual([...outcomes.keys()].sort(), ['docs', 'fresh', 'only-failed', 'tie']);
        for (const name of names) {
          assert.deepEqual(outcomes.get(name)?.finished, await catalog.lastFinished('backup', name), name);
          assert.deepEqual(outcomes.get(name)?.failure, await catalog.lastFailure(name), name);
        }
        assert.equal(outcomes.get('docs')?.finished?.snapshot, 's3');
        assert.equal(outcomes.get('docs')?.failure?.error, 'disk full');
        assert.equal(outcomes.get('tie')?.finished?.snapshot, 't2');
        assert.equal(outcomes.get('tie')?.failure, undefined);
        assert.equal(outcomes.get('only-failed')?.finished?.error, 'no');
        assert.equal(outcomes.get('fresh')?.failure?.id, queuedThenFailed.id);
        assert.equal((await catalog.lastBackupOutcomes([])).size, 0);
      }));

    test('insertFinishedJobs: thousands in one call, in their order, each snapshot linked once', () =>
      withCatalog(async ({ catalog }) => {
        const base = Date.parse('2026-01-01T00:00:00.000Z');
        const jobs = Array.from({ length: 2500 }, (_, i) =>
          finished(new Date(base + i * 60_000).toISOString(), {
            source: `s${i % 7}`,
            status: i % 5 === 0 ? 'failed' : 'succeeded',
            snapshots: i % 5 === 0 ? [] : [`snap-${i}`, `unit-${i}`],
            bytes_read: 2 ** 40 + i,
            result: i % 3 === 0 ? null : { files: i },
            rebuilt: true,
          }),
        );
        // Within one call, a later job naming a snapshot an earlier one names is skipped too.
        jobs.push(finished('2027-01-01T00:00:00.000Z', { snapshots: ['snap-1'], rebuilt: true }));
        assert.equal(await catalog.insertFinishedJobs(jobs), 2500);
        const listed = await catalog.listJobs({ limit: 3000 });
        assert.equal(listed.length, 2500);
        const ids = new Set(listed.map((j) => j.id));
        assert.equal(ids.size, 2500);
        const oldestFirst = listed.reverse();
        oldestFirst.forEach((j, i) => {
          const { id: _id, snapshot, ...rest } = j;
          assert.deepEqual(rest, jobs[i]);
          assert.equal(snapshot, jobs[i].snapshots[0] ?? null);
        });
        assert.equal((await catalog.knownSnapshots()).size, 2000 * 2);
        // Again: every job names a known snapshot or none; only the snapshot-less ones add up again.
        assert.equal(await catalog.insertFinishedJobs(jobs.slice(0, 10)), 2);
      }));

    test('insertFinishedJobs: jobs as given (rebuilt), new ids, their snapshots known', () =>
      withCatalog(async ({ catalog }) => {
        const n = await catalog.insertFinishedJobs([
          finished('2026-02-01T00:00:00.000Z', {
            snapshots: ['x1', 'x2'],
            rebuilt: true,
            trigger: 'rebuilt',
          }),
          finished('2026-02-02T00:00:00.000Z', { snapshots: ['y1'], rebuilt: true, trigger: 'rebuilt' }),
        ]);
        assert.equal(n, 2);
        const [newest, oldest] = await catalog.listJobs();
        assert.match(newest.id, /^[0-9a-f]{16}$/);
        assert.equal(newest.snapshot, 'y1');
        assert.equal(oldest.snapshot, 'x1');
        assert.equal(oldest.rebuilt, true);
        assert.equal(oldest.trigger, 'rebuilt');
        assert.equal(oldest.bytes_read, 10);
        assert.deepEqual(oldest.params, { tags: ['t'] });
        assert.deepEqual(oldest.result, { files: 1 });
        assert.deepEqual(await catalog.knownSnapshots(), new Set(['x1', 'x2', 'y1']));
        assert.equal(await catalog.insertFinishedJobs([]), 0);
      }));

    test('insertFinishedJobs: a job naming a snapshot some job names is skipped; two rebuilds at once add each once', () =>
      withCatalog(async ({ catalog, reopen }) => {
        const job = await catalog.createJob({
          kind: 'backup',
          source: 'docs',
          trigger: 'api',
          status: 'queued',
        });
        await catalog.updateJob(job.id, { status: 'succeeded', snapshots: ['known'] });
        const rebuild = [
          finished('2026-02-01T00:00:00.000Z', { snapshots: ['known'], rebuilt: true }),
          finished('2026-02-02T00:00:00.000Z', { snapshots: ['r1'], rebuilt: true }),
          finished('2026-02-03T00:00:00.000Z', { snapshots: ['r2', 'r3'], rebuilt: true }),
        ];
        const other = await reopen();
        const added = await Promise.all([
          catalog.insertFinishedJobs(rebuild),
          other.insertFinishedJobs(rebuild),
        ]);
        assert.equal(added[0] + added[1], 2);
        assert.equal((await catalog.listJobs()).length, 3);
        assert.deepEqual(await catalog.knownSnapshots(), new Set(['known', 'r1', 'r2', 'r3']));
      }));

    test('tokens: created once, authenticated by secret, names unique, listed by name, touched, revoked; all audited', () =>
      withCatalog(async ({ catalog }, clock) => {
        const { token, info } = await catalog.tokens.create('ci', 'operator', 'cli:root');
        assert.match(token, /^lb_[A-Za-z0-9_-]{43}$/);
        assert.deepEqual(info, {
          name: 'ci',
          role: 'operator',
          created_at: '2026-03-01T10:00:00.000Z',
          created_by: 'cli:root',
          last_used_at: null,
        });
        assert.deepEqual(await catalog.tokens.authenticate(token), { name: 'ci', role: 'operator' });
        assert.equal(await catalog.tokens.authenticate(`${token}x`), undefined);
        assert.equal(await catalog.tokens.authenticate('not-a-token'), undefined);
        await assert.rejects(catalog.tokens.create('ci', 'admin', 'cli:root'), usage);
        await assert.rejects(catalog.tokens.create('bad name', 'admin', 'cli:root'), usage);
        await catalog.tokens.create('Backup', 'viewer', 'cli:root');
        await catalog.tokens.create('admin', 'admin', 'cli:root');
        // Byte order, as SQLite sorts: capitals first.
        assert.deepEqual(
          (await catalog.tokens.list()).map((t) => `${t.name}:${t.role}`),
          ['Backup:viewer', 'admin:admin', 'ci:operator'],
        );

        clock.tick(5000);
        await catalog.tokens.touch('ci');
        const touched = (await catalog.tokens.list()).find((t) => t.name === 'ci');
        assert.equal(touched?.last_used_at, '2026-03-01T10:00:05.000Z');
        clock.tick(10_000);
        await catalog.tokens.touch('ci'); // within a minute: not written
        assert.equal(
          (await catalog.tokens.list()).find((t) => t.name === 'ci')?.last_used_at,
          touched?.last_used_at,
        );

        await catalog.tokens.revoke('ci', 'cli:root');
        assert.equal(await catalog.tokens.authenticate(token), undefined);
        await assert.rejects(catalog.tokens.revoke('ci', 'cli:root'), notFound);
        const actions = (await catalog.audit.list()).map(
          (e) => `${e.action} ${e.target} ${JSON.stringify(e.details)}`,
        );
        assert.deepEqual(actions, [
          'token.revoke ci {"role":"operator"}',
          'token.create admin {"role":"admin"}',
          'token.create Backup {"role":"viewer"}',
          'token.create ci {"role":"operator"}',
        ]);
        assert.equal((await catalog.audit.verify()).ok, true);
      }));

    test('audit: a chain of hashes, listed newest first with filters, verified', () =>
      withCatalog(async ({ catalog }, clock) => {
        assert.deepEqual(await catalog.audit.verify(), { ok: true, entries: 0, head: null });
        const first = await catalog.audit.append({
          actor: 'cli:root',
          action: 'backup.request',
          target: 'docs',
        });
        assert.equal(first.seq, 1);
        assert.equal(first.prev_hash, '0'.repeat(64));
        assert.match(first.hash, /^[0-9a-f]{64}$/);
        assert.deepEqual(first.details, {});
        clock.tick(60_000);
        const second = await catalog.audit.append({
          actor: 'ops',
          action: 'restore.request',
          target: 'job1',
          details: { b: 1, a: { y: [1, 'x'], x: null } },
        });
        assert.equal(second.seq, 2);
        assert.equal(second.prev_hash, first.hash);
        clock.tick(60_000);
        await catalog.audit.append({ actor: 'ops', action: 'restore.approve', target: 'job1' });
        await catalog.audit.append({ actor: 'ops', action: 'restoreX', target: null });

        const all = await catalog.audit.list();
        assert.deepEqual(
          all.map((e) => e.seq),
          [4, 3, 2, 1],
        );
        assert.deepEqual(all[2], second);
        assert.deepEqual(
          (await catalog.audit.list({ action: 'restore' })).map((e) => e.action),
          ['restore.approve', 'restore.request'],
        );
        assert.deepEqual(
          (await catalog.audit.list({ action: 'restore.request' })).map((e) => e.seq),
          [2],
        );
        assert.deepEqual(
          (await catalog.audit.list({ since: second.time })).map((e) => e.seq),
          [4, 3, 2],
        );
        assert.deepEqual(
          (await catalog.audit.list({ limit: 1 })).map((e) => e.seq),
          [4],
        );
        const v = await catalog.audit.verify();
        assert.deepEqual(v, { ok: true, entries: 4, head: { seq: 4, hash: all[0].hash } });
      }));

    test('audit: append-only; an edited, a replaced or a deleted entry is named by verify', () =>
      withCatalog(async ({ catalog, exec, execBypassingRules }) => {
        for (let i = 0; i < 5; i++)
          await catalog.audit.append({ actor: 'a', action: 'x.y', target: `t${i}` });
        await assert.rejects(exec(`UPDATE audit SET actor = 'mallory' WHERE seq = 2`), /append-only/);
        await assert.rejects(exec('DELETE FROM audit WHERE seq = 5'), /append-only/);
        assert.equal((await catalog.audit.verify()).ok, true);

        await execBypassingRules(`UPDATE audit SET details = '{"role":"admin"}' WHERE seq = 3`);
        let v = await catalog.audit.verify();
        assert.equal(v.ok, false);
        assert.equal(v.firstBad?.seq, 3);
        assert.match(v.firstBad?.reason ?? '', /entry 3 does not match its hash: edited/);
        assert.equal(v.entries, 2);
        await execBypassingRules(`UPDATE audit SET details = '{}' WHERE seq = 3`);
        assert.equal((await catalog.audit.verify()).ok, true);

        await execBypassingRules(`UPDATE audit SET details = 'not json' WHERE seq = 2`);
        assert.match(
          (await catalog.audit.verify()).firstBad?.reason ?? '',
          /entry 2 has details that are not JSON/,
        );
        await execBypassingRules(`UPDATE audit SET details = '{}' WHERE seq = 2`);

        await execBypassingRules('DELETE FROM audit WHERE seq = 5');
        v = await catalog.audit.verify();
        assert.equal(v.ok, false);
        assert.equal(v.firstBad?.seq, 5);
        assert.match(v.firstBad?.reason ?? '', /entries 5 to 5 are missing from the end of the log: deleted/);

        await execBypassingRules('DELETE FROM audit WHERE seq = 2');
        v = await catalog.audit.verify();
        assert.equal(v.firstBad?.seq, 2);
        assert.match(v.firstBad?.reason ?? '', /entry 2 is missing/);
      }));

    test('audit: concurrent appends through several connections keep one chain', () =>
      withCatalog(async ({ catalog, reopen }) => {
        const others = [await reopen(), await reopen(), await reopen()];
        const writers = [catalog, ...others];
        await Promise.all(
          writers.map(async (w, n) => {
            for (let i = 0; i < 25; i++)
              await w.audit.append({ actor: `w${n}`, action: 'test.append', target: `${i}` });
          }),
        );
        const v = await catalog.audit.verify();
        assert.equal(v.ok, true, v.firstBad?.reason);
        assert.equal(v.entries, 100);
      }));

    test('alerts: saved, updated in place, listed by first time and by state', () =>
      withCatalog(async ({ catalog }) => {
        const firing = {
          key: 'stale:docs',
          kind: 'stale',
          source: 'docs',
          state: 'firing' as const,
          summary: 'docs has no backup for 30h',
          details: { age_hours: 30, nested: { a: [1] } },
          first_at: '2026-03-01T09:00:00.000Z',
          last_sent_at: '2026-03-01T09:00:01.000Z',
          resolved_at: null,
          sends: 1,
        };
        await catalog.saveAlert(firing);
        await catalog.saveAlert({
          ...firing,
          key: 'failed:app',
          kind: 'failed',
          source: 'app',
          first_at: '2026-03-01T08:00:00.000Z',
        });
        await catalog.saveAlert({
          ...firing,
          key: 'check',
          kind: 'check',
          source: null,
          first_at: '2026-03-01T10:00:00.000Z',
        });
        assert.deepEqual(await catalog.getAlert('stale:docs'), firing);
        assert.equal(await catalog.getAlert('nope'), undefined);
        const resolved = {
          ...firing,
          state: 'resolved' as const,
          resolved_at: '2026-03-01T11:00:00.000Z',
          sends: 2,
        };
        await catalog.saveAlert(resolved);
        assert.deepEqual(await catalog.getAlert('stale:docs'), resolved);
        assert.deepEqual(
          (await catalog.listAlerts()).map((a) => a.key),
          ['failed:app', 'stale:docs', 'check'],
        );
        assert.deepEqual(
          (await catalog.listAlerts('firing')).map((a) => a.key),
          ['failed:app', 'check'],
        );
        assert.deepEqual(
          (await catalog.listAlerts('resolved')).map((a) => a.key),
          ['stale:docs'],
        );
      }));
  });
}

/** A finished backup of "docs" started at `at`, as a rebuild would insert it. */
const PROGRESS = {
  phase: 'backup docs',
  files_done: 3,
  files_total: 10,
  bytes_done: 3000,
  bytes_processed_unchanged: 0,
  bytes_total: 10000,
  total_is_estimate: false,
  percent: 30,
  eta_seconds: 7,
  elapsed_seconds: 3,
  phases_done: 0,
  updated_at: '2026-03-01T10:00:03.000Z',
};

function finished(
  at: string,
  over: Partial<Parameters<CatalogStore['insertFinishedJobs']>[0][number]> = {},
): Parameters<CatalogStore['insertFinishedJobs']>[0][number] {
  return {
    kind: 'backup',
    source: 'docs',
    trigger: 'schedule',
    status: 'succeeded',
    created_at: at,
    started_at: at,
    finished_at: at,
    bytes_read: 10,
    bytes_stored: 5,
    snapshots: [],
    error: null,
    requested_by: 'scheduler',
    approved_by: null,
    params: { tags: ['t'] },
    result: { files: 1 },
    rebuilt: false,
    retry_of: null,
    owner: null,
    ...over,
  };
}

for (const factory of FACTORIES) runCatalogContract(factory);

// ---- PostgreSQL only: several processes ---------------------------------------------------

const APPENDER = fileURLToPath(new URL('./audit-appender.js', import.meta.url));

function runAppender(url: string, schema: string, count: number, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [APPENDER, url, schema, String(count), name], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`appender ${name} exited ${code}: ${err}`)),
    );
  });
}

describe('postgres catalog: several processes', { skip: postgresFactory.skip }, () => {
  let srv: PostgresServer;
  const clock = new TestClock('2026-03-01T10:00:00Z');
  before(async () => {
    srv = await startPostgres();
  });
  after(() => srv?.stop());

  test('four processes append 200 entries to one chain at once: verify passes, the count is exact', async () => {
    const catalog = await PgCatalog.open(srv.url, clock, { schema: 'shared' });
    try {
      await catalog.audit.append({ actor: 'test', action: 'test.start' });
      await Promise.all([0, 1, 2, 3].map((n) => runAppender(srv.url, 'shared', 50, `p${n}`)));
      const v = await catalog.audit.verify();
      assert.equal(v.ok, true, v.firstBad?.reason);
      assert.equal(v.entries, 201);
      const byActor = new Map<string, number>();
      for (const e of await catalog.audit.list({ action: 'test.append', limit: 1000 })) {
        byActor.set(e.actor, (byActor.get(e.actor) ?? 0) + 1);
      }
      assert.deepEqual([...byActor.entries()].sort(), [
        ['p0', 50],
        ['p1', 50],
        ['p2', 50],
        ['p3', 50],
      ]);
    } finally {
      await catalog.close();
    }
  });

  test('instances opening a new catalog at once: one creates it, none fails', async () => {
    const opened = await Promise.all(
      [1, 2, 3, 4].map(() => PgCatalog.open(srv.url, clock, { schema: 'racing' })),
    );
    try {
      assert.equal(opened.filter((c) => c.created).length, 1);
      assert.equal(await opened[3].getMeta('schema_version'), String(PG_SCHEMA_VERSION));
    } finally {
      await Promise.all(opened.map((c) => c.close()));
    }
  });

  test('a catalog of an older version is brought up to date when opened', async () => {
    const first = await PgCatalog.open(srv.url, clock, { schema: 'older' });
    await first.close();
    // As the first release left it: version 1, without the later steps' index.
    const admin = new pg.Client({ connectionString: srv.url });
    await admin.connect();
    try {
      await admin.query('DROP INDEX older.jobs_kind_source_ended');
      await admin.query('ALTER TABLE older.jobs DROP COLUMN progress');
      await admin.query("UPDATE older.meta SET value = '1' WHERE key = 'schema_version'");
      const again = await PgCatalog.open(srv.url, clock, { schema: 'older' });
      try {
        assert.equal(await again.getMeta('schema_version'), String(PG_SCHEMA_VERSION));
        const index = await admin.query(
          "SELECT 1 FROM pg_indexes WHERE schemaname = 'older' AND indexname = 'jobs_kind_source_ended'",
        );
        assert.equal(index.rowCount, 1);
        const job = await again.createJob({ kind: 'check', source: null, trigger: 'api', status: 'queued' });
        const stored = await again.updateJob(job.id, { progress: PROGRESS });
        assert.deepEqual(stored.progress, PROGRESS);
      } finally {
        await again.close();
      }
    } finally {
      await admin.end();
    }
  });

  test('the same token name created from several instances at once: one wins, the rest get a usage error', async () => {
    const opened = await Promise.all(
      [1, 2, 3].map(() => PgCatalog.open(srv.url, clock, { schema: 'tokens' })),
    );
    try {
      const results = await Promise.allSettled(opened.map((c) => c.tokens.create('ci', 'admin', 'cli:root')));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results)
        if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'usage');
      assert.equal((await opened[0].tokens.list()).length, 1);
      const v = await opened[0].audit.verify();
      assert.deepEqual([v.ok, v.entries], [true, 1]);
    } finally {
      await Promise.all(opened.map((c) => c.close()));
    }
  });

  test('a user without CREATE on the database: refused with what to do; given its own schema, it opens', async () => {
    const admin = new pg.Client({ connectionString: srv.url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE app LOGIN PASSWORD 'app-pw'`);
      const appUrl = `postgres://app:app-pw@127.0.0.1:${srv.port}/postgres`;
      await assert.rejects(
        PgCatalog.open(appUrl, clock, { schema: 'owned' }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'config_invalid');
          assert.match(err.message, /needs CREATE on the database, or create the schema for it/);
          assert.doesNotMatch(err.message, /app-pw/);
          return true;
        },
      );
      await admin.query('CREATE SCHEMA owned AUTHORIZATION app');
      const catalog = await PgCatalog.open(appUrl, clock, { schema: 'owned' });
      try {
        assert.equal(catalog.created, true);
        assert.equal(catalog.location, `postgres://app@127.0.0.1:${srv.port}/postgres`);
        await catalog.audit.append({ actor: 'app', action: 'test.owned' });
        assert.equal((await catalog.audit.verify()).ok, true);
      } finally {
        await catalog.close();
      }
    } finally {
      await admin.end();
    }
  });

  test('a catalog written by a newer version is refused; the password never shows in messages', async () => {
    const catalog = await PgCatalog.open(srv.url, clock, { schema: 'newer' });
    await catalog.setMeta('schema_version', '99');
    await catalog.close();
    await assert.rejects(
      PgCatalog.open(srv.url, clock, { schema: 'newer' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'config_invalid');
        assert.match(err.message, /written by a newer lifeboat \(catalog version 99\); upgrade lifeboat/);
        assert.doesNotMatch(err.message, /S3cret/);
        return true;
      },
    );
    const wrong = srv.url.replace(encodeURIComponent(srv.password), 'nope-wrong');
    await assert.rejects(PgCatalog.open(wrong, clock), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'config_invalid');
      assert.match(
        err.message,
        /\[catalog\] cannot open postgres:\/\/lbtest@127\.0\.0\.1:\d+\/postgres: .*check the user and password/,
      );
      assert.doesNotMatch(err.message, /nope-wrong/);
      return true;
    });
    await assert.rejects(PgCatalog.open(srv.url, clock, { schema: 'Bad-Name' }), { code: 'config_invalid' });
  });
});
