/**
 * @module test/cli/cli-backup
 * `backup` and `snapshots` through the real CLI: a source named on the command line, sources
 * from a config file found each of the ways the contract allows (--config before and after
 * the command, LIFEBOAT_CONFIG, ./lifeboat.yaml), `${ENV}` in the config, several sources,
 * tags, and the listing with its filters, as a table and as JSON. Several sources of which
 * some fail (a missing database file or folder, a failing hook, servers where nothing
 * listens): the others are saved, each failure is named, exit 3; all failing, exit 1.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/testing/servers/free-port.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { repoEnv, tempDir } from '../helpers/cli.js';
import { bareEnv, CliSession } from '../helpers/cli-session.js';

const PASSWORD = 'pw-backup-Kd3#glacier-heron';
/** A database password in a source URL, never to be shown either. */
const PG_PASSWORD = 'pg-Secret-4417';

const session = new CliSession({ password: PASSWORD, passwords: [PASSWORD, PG_PASSWORD] });
const { ok, fails } = session;

/** One source in `backup --json`. */
interface SourceResult {
  source: string;
  status: 'ok' | 'partial' | 'failed';
  snapshots: string[];
  error: string | null;
  failures: { name: string; code: string; error: string }[];
  skipped: { path: string; error: string }[];
  skippedCount: number;
  saved: (ListedSnapshot & { backup: { bytesRead: number } })[];
}

interface ListedSnapshot {
  id: string;
  short_id: string;
  time: string;
  source: string;
  engine: string;
  tags: string[];
  stats: { files?: number; dirs?: number; bytes?: number };
}

async function listJson(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<ListedSnapshot[]> {
  const r = await ok(['snapshots', '--json', ...args], env, cwd);
  return JSON.parse(r.stdout);
}

describe('lifeboat backup and snapshots', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let docs: string;
  let notes: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-backup-'));
    session.workDir = dir;
    docs = join(dir, 'docs');
    notes = join(dir, 'notes');
    await mkdir(join(docs, 'guide'), { recursive: true });
    await writeFile(join(docs, 'readme.md'), '# docs\n');
    await writeFile(join(docs, 'guide', 'one.md'), 'one\n'.repeat(100));
    await writeFile(join(docs, 'guide', 'two.md'), 'two\n'.repeat(200));
    await mkdir(notes);
    await writeFile(join(notes, 'todo.txt'), 'buy rope\n');
  });
  after(() => cleanup());

  describe('a source on the command line', () => {
    let env: NodeJS.ProcessEnv;
    before(async () => {
      env = repoEnv(join(dir, 'repo-cli'), { LIFEBOAT_PASSWORD: PASSWORD });
      await ok(['init'], env);
    });

    it('backs up a folder and restores it identical', async () => {
      const r = await ok(['backup', '--type', 'files', '--name', 'docs', '--path', docs], env);
      assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: docs \(files\), .* read, .* added/m);
      const [snap] = await listJson([], env);
      assert.equal(snap.source, 'docs');
      assert.equal(snap.engine, 'files');
      assert.deepEqual(snap.tags, []);
      assert.equal(snap.stats.files, 3);
      assert.equal(snap.stats.dirs, 1);
      assert.equal(snap.stats.bytes, 7 + 400 + 800);
      assert.ok(r.stdout.includes(snap.short_id));
      const to = join(dir, 'restored-cli');
      await ok(['restore', snap.id, '--to', to], env);
      assert.deepEqual(await compareTrees(docs, to), []);
    });

    it('--tag (repeatable) tags the snapshot; --json prints it', async () => {
      const r = await ok(
        [
          'backup',
          '--type',
          'files',
          '--name',
          'notes',
          '--path',
          notes,
          '--tag',
          'manual',
          '--tag',
          'pre-upgrade',
          '--json',
        ],
        env,
      );
      const [result]: SourceResult[] = JSON.parse(r.stdout);
      assert.equal(result.source, 'notes');
      assert.equal(result.status, 'ok');
      assert.equal(result.error, null);
      assert.deepEqual(result.skipped, []);
      const [saved] = result.saved;
      assert.deepEqual(result.snapshots, [saved.id]);
      assert.deepEqual(saved.tags, ['manual', 'pre-upgrade']);
      assert.equal(saved.source, 'notes');
      const listed = await listJson(['--source', 'notes'], env);
      assert.equal(listed.length, 1);
      assert.equal(listed[0].id, saved.id);
      assert.deepEqual(listed[0].tags, ['manual', 'pre-upgrade']);
    });

    it('--exclude leaves matching files out', async () => {
      await ok(
        ['backup', '--type', 'files', '--name', 'docs-no-two', '--path', docs, '--exclude', 'two.md'],
        env,
      );
      const [snap] = await listJson(['--source', 'docs-no-two'], env);
      assert.equal(snap.stats.files, 2);
    });
  });

  describe('sources from a config file', () => {
    let repo: string;
    let config: string;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      repo = join(dir, 'repo-config');
      config = join(dir, 'config.yaml');
      // The password comes from the environment through ${...}; the file holds no secret.
      await writeFile(
        config,
        [
          'repository:',
          `  url: ${repo}`,
          `  password: \${LB_TEST_REPO_PASSWORD}`,
          'sources:',
          '  docs:',
          '    type: files',
          `    path: ${docs}`,
          '  notes:',
          '    type: files',
          `    path: \${LB_TEST_NOTES_DIR}`,
          '',
        ].join('\n'),
      );
      env = bareEnv({ LB_TEST_REPO_PASSWORD: PASSWORD, LB_TEST_NOTES_DIR: notes });
    });

    it('--config before the command name: init, then backup of every source', async () => {
      await ok(['--config', config, 'init'], env);
      const r = await ok(['--config', config, 'backup'], env);
      assert.match(r.stdout, /saved: docs \(files\)/);
      assert.match(r.stdout, /saved: notes \(files\)/);
      const list = await listJson(['--config', config], env);
      assert.deepEqual(list.map((s) => s.source).sort(), ['docs', 'notes']);
      // ${LB_TEST_NOTES_DIR} was taken from the environment: the notes tree is the real one.
      const to = join(dir, 'restored-notes');
      await ok(['--config', config, 'restore', 'latest', '--source', 'notes', '--to', to], env);
      assert.deepEqual(await compareTrees(notes, to), []);
    });

    it('--config after the command name', async () => {
      await ok(['backup', 'docs', '--config', config, '--tag', 'after'], env);
      const tagged = await listJson(['--tag', 'after', '--config', config], env);
      assert.equal(tagged.length, 1);
      assert.equal(tagged[0].source, 'docs');
    });

    it('LIFEBOAT_CONFIG names the file', async () => {
      const viaEnv = { ...env, LIFEBOAT_CONFIG: config };
      await ok(['backup', 'notes', '--tag', 'from-env'], viaEnv);
      const tagged = await listJson(['--tag', 'from-env'], viaEnv);
      assert.deepEqual(
        tagged.map((s) => s.source),
        ['notes'],
      );
    });

    it('./lifeboat.yaml in the working folder is read when nothing else names a file', async () => {
      const cwd = join(dir, 'workdir');
      await mkdir(cwd);
      await writeFile(
        join(cwd, 'lifeboat.yaml'),
        `repository:\n  url: ${repo}\n  password: \${LB_TEST_REPO_PASSWORD}\nsources:\n  docs: {type: files, path: ${docs}}\n`,
      );
      await ok(['backup', '--tag', 'cwd'], env, cwd);
      const tagged = await listJson(['--tag', 'cwd'], env, cwd);
      assert.deepEqual(
        tagged.map((s) => s.source),
        ['docs'],
      );
    });

    it('several sources named on the command line are each backed up', async () => {
      const before = (await listJson(['--config', config], env)).length;
      const r = await ok(['backup', 'notes', 'docs', '--config', config, '--tag', 'both'], env);
      assert.equal(r.stdout.match(/saved:/g)?.length, 2, r.stdout);
      const list = await listJson(['--config', config], env);
      assert.equal(list.length, before + 2);
      assert.deepEqual(
        list
          .filter((s) => s.tags.includes('both'))
          .map((s) => s.source)
          .sort(),
        ['docs', 'notes'],
      );
    });

    it('an unknown source name is refused before anything is written', async () => {
      const before = (await listJson(['--config', config], env)).length;
      const r = await fails(['backup', 'docs', 'nope', '--config', config], env, 2, /no source "nope"/);
      assert.match(r.stderr, /known: docs, notes/);
      assert.equal((await listJson(['--config', config], env)).length, before);
    });

    it('an unset variable named in the config is reported, and nothing runs', async () => {
      const r = await fails(
        ['backup', '--config', config],
        bareEnv({ LB_TEST_REPO_PASSWORD: PASSWORD }),
        2,
        /sources\.notes\.path uses \$\{LB_TEST_NOTES_DIR\}, which is not set/,
      );
      assert.ok(r.stderr.includes(config));
      // A command that reads no source's settings does not need it.
      await ok(['snapshots', '--config', config], bareEnv({ LB_TEST_REPO_PASSWORD: PASSWORD }));
    });

    it('the environment wins over the config for the repository', async () => {
      const other = join(dir, 'repo-other');
      const otherEnv = { ...env, LIFEBOAT_REPO: other, LIFEBOAT_PASSWORD: PASSWORD };
      await ok(['init', '--config', config], otherEnv);
      await ok(['backup', 'notes', '--config', config], otherEnv);
      assert.equal((await listJson(['--config', config], otherEnv)).length, 1);
    });
  });

  describe('hooks around backup and restore', () => {
    let repo: string;
    let config: string;
    let env: NodeJS.ProcessEnv;
    let log: string;

    before(async () => {
      repo = join(dir, 'repo-hooks');
      config = join(dir, 'hooks.yaml');
      log = join(dir, 'hooks.log');
      const record = (name: string) =>
        `echo "${name} $LIFEBOAT_SOURCE $LIFEBOAT_STATUS $LIFEBOAT_SNAPSHOT pw=$LIFEBOAT_PASSWORD" >> ${log}`;
      await writeFile(
        config,
        [
          'sources:',
          '  good:',
          '    type: files',
          `    path: ${docs}`,
          '    hooks:',
          `      before_backup: '${record('before_backup')}'`,
          `      after_backup: '${record('after_backup')}'`,
          `      before_restore: '${record('before_restore')}'`,
          `      after_restore: '${record('after_restore')}'`,
          '  blocked:',
          '    type: files',
          `    path: ${notes}`,
          '    hooks:',
          `      before_backup: 'echo maintenance mode is stuck; exit 4'`,
          `      after_backup: '${record('after_backup')}'`,
          '',
        ].join('\n'),
      );
      env = repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD, LIFEBOAT_CONFIG: config });
      env.LIFEBOAT_CONFIG = config;
      await ok(['init'], env);
    });

    it('run before and after a backup and a restore, with the outcome and without the password', async () => {
      await ok(['backup', 'good'], env);
      const [snap] = await listJson(['--source', 'good'], env);
      await ok(['restore', 'latest', '--source', 'good', '--to', join(dir, 'hooked-restore')], env);
      const lines = (await readFile(log, 'utf8')).trimEnd().split('\n');
      assert.deepEqual(lines, [
        'before_backup good   pw=',
        `after_backup good success ${snap.id} pw=`,
        `before_restore good  ${snap.id} pw=`,
        `after_restore good success ${snap.id} pw=`,
      ]);
    });

    // A failing `before_*` aborts the job; the `after_*` always runs (docs/cli.md, "Hooks").
    it('a failing before_backup aborts the backup with its output; after_backup still runs', async () => {
      const r = await fails(
        ['backup', 'blocked'],
        env,
        1,
        /before_backup hook of source "blocked" exited with code 4/,
      );
      assert.match(r.stderr, /maintenance mode is stuck/);
      assert.deepEqual(await listJson(['--source', 'blocked'], env), []);
      const last = (await readFile(log, 'utf8')).trimEnd().split('\n').at(-1);
      assert.equal(last, 'after_backup blocked failure  pw=');
    });
  });

  describe('several sources, some failing', () => {
    let env: NodeJS.ProcessEnv;
    let config: string;
    let missingDb: string;
    let missingDir: string;

    before(async () => {
      missingDb = join(dir, 'no-such.db');
      missingDir = join(dir, 'no-such-folder');
      config = join(dir, 'failing.yaml');
      // Ports taken and released: nothing listens there.
      const redisPort = await freePort();
      const pgPort = await freePort();
      await writeFile(
        config,
        [
          'sources:',
          `  docs: {type: files, path: ${docs}}`,
          `  app-db: {type: sqlite, path: ${missingDb}}`,
          '  blocked:',
          '    type: files',
          `    path: ${notes}`,
          '    hooks:',
          `      before_backup: 'echo maintenance mode is stuck; exit 4'`,
          `  cache: {type: redis, url: 'redis://127.0.0.1:${redisPort}'}`,
          `  orders: {type: postgres, url: 'postgres://app:${PG_PASSWORD}@127.0.0.1:${pgPort}/orders'}`,
          `  uploads: {type: files, path: ${missingDir}}`,
          `  notes: {type: files, path: ${notes}}`,
          '',
        ].join('\n'),
      );
      env = {
        ...repoEnv(join(dir, 'repo-failing'), { LIFEBOAT_PASSWORD: PASSWORD }),
        LIFEBOAT_CONFIG: config,
      };
      await ok(['init'], env);
    });

    it('backs up the sources after a failing one, names each failure, exits 3', async () => {
      const r = await fails(['backup'], env, 3, /\[backup\] 2 of 7 sources backed up; failed: /);
      // Saved: the first and the last.
      assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: docs \(files\)/m);
      assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: notes \(files\)/m);
      assert.equal(r.stdout.match(/saved:/g)?.length, 2, r.stdout);
      // Each failure on a line of its own, with its error, then the summary.
      const lines = r.stderr.trimEnd().split('\n');
      const failed = lines.filter((l) => l.startsWith('failed: '));
      assert.deepEqual(
        failed.map((l) => l.split(':')[1].trim()),
        ['app-db', 'blocked', 'cache', 'orders/orders', 'uploads'],
      );
      assert.ok(failed[0].includes(missingDb), failed[0]);
      assert.match(
        failed[1],
        /before_backup hook of source "blocked" exited with code 4; output: maintenance mode is stuck/,
      );
      assert.match(failed[2], /\[source:redis\] cannot connect to 127\.0\.0\.1:\d+/);
      assert.match(failed[3], /\[source:postgres\] cannot connect to 127\.0\.0\.1:\d+\/orders/);
      assert.match(failed[4], new RegExp(`path ${missingDir} does not exist`));
      assert.equal(
        lines.at(-1),
        'lifeboat: [backup] 2 of 7 sources backed up; failed: app-db, blocked, cache, orders/orders, uploads (each is listed above: fix it and back up again)',
      );
      const list = await listJson([], env);
      assert.deepEqual(
        list.map((s) => s.source),
        ['docs', 'notes'],
      );
      // The last source, backed up after the failures, restores identical.
      const to = join(dir, 'restored-after-failures');
      await ok(['restore', 'latest', '--source', 'notes', '--to', to], env);
      assert.deepEqual(await compareTrees(notes, to), []);
    });

    it('--json: one entry per source with its status, snapshots and error', async () => {
      const r = await fails(
        ['backup', 'docs', 'app-db', 'orders', 'notes', '--json'],
        env,
        3,
        /2 of 4 sources/,
      );
      const results: SourceResult[] = JSON.parse(r.stdout);
      assert.deepEqual(
        results.map((e) => [e.source, e.status, e.snapshots.length]),
        [
          ['docs', 'ok', 1],
          ['app-db', 'failed', 0],
          ['orders', 'failed', 0],
          ['notes', 'ok', 1],
        ],
      );
      const [docsResult, dbResult, pgResult, notesResult] = results;
      assert.equal(docsResult.error, null);
      assert.deepEqual(docsResult.snapshots, [docsResult.saved[0].id]);
      assert.equal(notesResult.saved[0].source, 'notes');
      assert.match(dbResult.error ?? '', new RegExp(`^app-db: \\[source:sqlite\\] .*${missingDb}`));
      assert.deepEqual(
        dbResult.failures.map((f) => f.name),
        ['app-db'],
      );
      assert.deepEqual(
        pgResult.failures.map((f) => f.name),
        ['orders/orders'],
      );
      for (const e of results) assert.deepEqual(e.skipped, []);
      const listed = (await listJson([], env)).map((s) => s.id);
      for (const id of [...docsResult.snapshots, ...notesResult.snapshots])
        assert.ok(listed.includes(id), id);
      for (const text of [r.stdout, r.stderr]) {
        assert.ok(!text.includes(PG_PASSWORD), `the postgres password shows in the output: ${text}`);
      }
    });

    it('all failing: exit 1, each named; a lone failure is its own error', async () => {
      const before = (await listJson([], env)).length;
      const r = await fails(
        ['backup', 'app-db', 'uploads'],
        env,
        1,
        /^lifeboat: \[backup\] no source backed up; failed: app-db, uploads \(each is listed above/m,
      );
      assert.match(r.stderr, /^failed: app-db: \[source:sqlite\]/m);
      assert.match(r.stderr, /^failed: uploads: \[source:files\] path .* does not exist/m);
      const one = await fails(['backup', 'uploads'], env, 1, /\[source:files\] path .* does not exist/);
      assert.doesNotMatch(one.stderr, /^failed: /m, 'a lone failure is not listed twice');
      const json = await fails(['backup', 'app-db', 'uploads', '--json'], env, 1, /no source backed up/);
      assert.deepEqual(
        (JSON.parse(json.stdout) as SourceResult[]).map((e) => e.status),
        ['failed', 'failed'],
      );
      assert.equal((await listJson([], env)).length, before, 'a snapshot was written');
    });
  });

  describe('snapshots', () => {
    let env: NodeJS.ProcessEnv;
    let all: ListedSnapshot[];

    before(async () => {
      env = repoEnv(join(dir, 'repo-list'), { LIFEBOAT_PASSWORD: PASSWORD });
      await ok(['init'], env);
      await ok(['backup', '--type', 'files', '--name', 'docs', '--path', docs, '--tag', 'daily'], env);
      await ok(['backup', '--type', 'files', '--name', 'notes', '--path', notes], env);
      await ok(
        ['backup', '--type', 'files', '--name', 'docs', '--path', docs, '--tag', 'daily', '--tag', 'keep'],
        env,
      );
      all = await listJson([], env);
    });

    it('--json lists every snapshot, oldest first, with the documented fields', () => {
      assert.equal(all.length, 3);
      for (const s of all) {
        assert.match(s.id, /^[0-9a-f]{64}$/);
        assert.equal(s.short_id, s.id.slice(0, 8));
        assert.ok(!Number.isNaN(Date.parse(s.time)), s.time);
        assert.equal(s.engine, 'files');
        assert.ok(Array.isArray(s.tags));
        assert.equal(typeof s.stats.bytes, 'number');
      }
      assert.deepEqual(
        all.map((s) => s.source),
        ['docs', 'notes', 'docs'],
      );
      const times = all.map((s) => Date.parse(s.time));
      assert.deepEqual(
        [...times].sort((a, b) => a - b),
        times,
      );
      assert.deepEqual(all[2].tags, ['daily', 'keep']);
      assert.equal(all[1].stats.files, 1);
      assert.equal(all[1].stats.bytes, 9);
    });

    it('prints a table: header, one row per snapshot, and a count', async () => {
      const r = await ok(['snapshots'], env);
      const lines = r.stdout.trimEnd().split('\n');
      assert.match(lines[0], /^ID\s+Time \(UTC\)\s+Source\s+Engine\s+Host\s+Tags\s+Size$/);
      assert.match(lines[1], /^-+( +-+)+$/);
      assert.equal(lines.length, 2 + 3 + 1);
      for (const [i, s] of all.entries()) {
        const row = lines[2 + i];
        assert.ok(row.startsWith(s.short_id), row);
        assert.ok(row.includes(s.source), row);
        assert.ok(row.includes(s.time.replace('T', ' ').slice(0, 19)), row);
        assert.ok(row.includes(s.tags.join(',')), row);
      }
      assert.match(lines[2], /1\.18 KiB$/);
      assert.equal(lines.at(-1), '3 snapshots');
    });

    it('--source and --tag filter', async () => {
      assert.deepEqual(
        (await listJson(['--source', 'docs'], env)).map((s) => s.id),
        [all[0].id, all[2].id],
      );
      assert.deepEqual(
        (await listJson(['--tag', 'keep'], env)).map((s) => s.id),
        [all[2].id],
      );
      assert.deepEqual(
        (await listJson(['--tag', 'daily', '--source', 'notes'], env)).map((s) => s.id),
        [],
      );
      const r = await ok(['snapshots', '--source', 'nobody'], env);
      assert.match(r.stdout, /^0 snapshots$/m);
    });

    it('--before and --after filter by time (exclusive)', async () => {
      const between = await listJson(['--after', all[0].time, '--before', all[2].time], env);
      assert.deepEqual(
        between.map((s) => s.id),
        [all[1].id],
      );
      assert.deepEqual(
        (await listJson(['--before', all[1].time], env)).map((s) => s.id),
        [all[0].id],
      );
      assert.deepEqual(
        (await listJson(['--after', all[1].time], env)).map((s) => s.id),
        [all[2].id],
      );
      assert.equal((await listJson(['--after', '2000-01-01'], env)).length, 3);
      assert.equal((await listJson(['--before', '2000-01-01T00:00:00Z'], env)).length, 0);
    });

    it('a time that is not a time exits 2 and shows the expected form', async () => {
      await fails(
        ['snapshots', '--before', 'last tuesday'],
        env,
        2,
        /--before "last tuesday" is not a time.*ISO 8601/,
      );
      await fails(['snapshots', '--after', '2026-13-45'], env, 2, /--after "2026-13-45" is not a time/);
    });
  });

  it('no output shows the password, and no error a stack trace', () => {
    session.assertNoLeaks(20);
  });
});
