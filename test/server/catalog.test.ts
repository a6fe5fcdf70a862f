/**
 * @module test/server/catalog
 * The catalog through the real CLI and a server: `status` and `jobs` without a running
 * server, job history that survives a restart, a lost catalog rebuilt from the repository,
 * `jobs retry`, tokens, and `audit verify` catching an edited or deleted entry.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { type CliResult, runCli } from '../helpers/cli.js';
import { type Harness, PASSWORD, startHarness } from './harness.js';

const CONFIG = `
repository:
  url: $DIR/repo
sources:
  docs:
    type: files
    path: $DIR/docs
    schedule: "0 3 * * *"
    max_age: 26h
  app:
    type: sqlite
    path: $DIR/app.db
`;

describe('catalog, status and jobs', () => {
  let dir: string;
  let h: Harness | undefined;
  let env: NodeJS.ProcessEnv;

  async function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runCli(['--config', join(dir, 'lifeboat.yaml'), ...args], { ...env, ...extra }, { cwd: dir });
  }
  async function ok(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const r = await cli(args, extra);
    assert.equal(r.code, 0, `lifeboat ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    return r;
  }
  async function json(args: string[]) {
    return JSON.parse((await ok([...args, '--json'])).stdout);
  }

  before(async () => {
    // The harness makes the repository; the CLI uses the same folder, password and catalog.
    h = await startHarness({ config: CONFIG, files: { 'docs/a.txt': 'alpha\n' } });
    dir = h.dir;
    await h.stop();
    h = undefined;
    await rm(join(dir, 'lifeboat.catalog.sqlite'));
    await writeFile(join(dir, 'lifeboat.yaml'), CONFIG.replaceAll('$DIR', dir));
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: PASSWORD, LIFEBOAT_KDF_N: '1024' });
  });
  after(async () => {
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows status and jobs without a server, rebuilding history from the repository', async () => {
    await ok(['backup', 'docs']);
    await ok(['backup', 'docs', '--tag', 'second']);
    const snapshots = await json(['snapshots']);
    const jobs = await json(['jobs']);
    assert.equal(jobs.length, 2);
    for (const j of jobs) {
      assert.equal(j.kind, 'backup');
      assert.equal(j.source, 'docs');
      assert.equal(j.status, 'succeeded');
      assert.equal(j.trigger, 'rebuilt');
      assert.equal(j.rebuilt, true);
      assert.equal(j.bytes_read, 6);
    }
    assert.deepEqual(
      jobs.map((j: { snapshot: string }) => j.snapshot).sort(),
      snapshots.map((s: { id: string }) => s.id).sort(),
    );
    // Listing again adds nothing: the sync is idempotent.
    assert.equal((await json(['jobs'])).length, 2);

    const status = await json(['status']);
    const docs = status.find((s: { name: string }) => s.name === 'docs');
    assert.equal(docs.last_backup.snapshot, snapshots.at(-1).id);
    assert.equal(docs.rpo.breached, false);
    assert.equal(docs.rpo.max_age, '26h');
    assert.match(docs.next_run, /T03:00:00\.000Z$/);
    const app = status.find((s: { name: string }) => s.name === 'app');
    assert.equal(app.last_backup, null);
    assert.equal(app.rpo, null);

    const text = (await ok(['status'])).stdout;
    assert.match(
      text,
      /^Source +Type +Last good backup \(UTC\) +Age +Max age +RPO +Next run \(UTC\) +Last failure$/m,
    );
    assert.match(text, /^app +sqlite +never +/m);
    assert.match(text, /^docs +files +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \([0-9a-f]{8}\) +\d+s +26h +ok +/m);
  });

  let failedId = '';

  it('keeps job history and tokens across a server restart', async () => {
    h = await startHarness({ config: CONFIG, dir });
    const oldViewer = h.tokens.viewer;
    const fail = await h.call('POST', '/api/sources/app/backups');
    const failed = await h.waitJob(fail.body.job.id);
    assert.equal(failed.status, 'failed');
    assert.match(failed.error, /app\.db/);
    failedId = failed.id;
    const good = await h.call('POST', '/api/sources/docs/backups');
    assert.equal((await h.waitJob(good.body.job.id)).status, 'succeeded');
    await h.stop();

    h = await startHarness({ config: CONFIG, dir, clock: h.clock });
    const again = await h.call('GET', `/api/jobs/${failedId}`, { token: oldViewer });
    assert.equal(again.status, 200, 'the token made before the restart still works');
    assert.equal(again.body.job.status, 'failed');
    assert.equal((await h.call('GET', `/api/jobs/${good.body.job.id}`)).body.job.status, 'succeeded');
    const sources = (await h.call('GET', '/api/sources')).body.sources;
    assert.equal(sources.find((s: { name: string }) => s.name === 'app').last_failure.job, failedId);
    await h.stop();
    h = undefined;

    const failedJobs = await json(['jobs', '--status', 'failed']);
    assert.deepEqual(
      failedJobs.map((j: { id: string }) => j.id),
      [failedId],
    );
    const docsJobs = await json(['jobs', '--source', 'docs']);
    assert.equal(docsJobs.length, 3);
    const recent = await json(['jobs', '--since', '1h']);
    const cutoff = Date.now() - 3_700_000;
    assert.ok(recent.every((j: { created_at: string }) => Date.parse(j.created_at) >= cutoff));
    const status = await json(['status']);
    assert.equal(status.find((s: { name: string }) => s.name === 'app').last_failure.job, failedId);
  });

  it('retries a failed job, here and now', async () => {
    const stillFailing = await cli(['jobs', 'retry', failedId.slice(0, 8)]);
    assert.equal(stillFailing.code, 1, stillFailing.stderr);
    assert.match(
      stillFailing.stdout,
      new RegExp(`\\(retry of ${failedId.slice(0, 8)}\\): backup of app failed`),
    );
    assert.match(stillFailing.stderr, /lifeboat: \[jobs\] retry [0-9a-f]{8} failed: /);

    const db = new Database(join(dir, 'app.db'));
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1);');
    db.close();
    const r = await ok(['jobs', 'retry', failedId]);
    assert.match(
      r.stdout,
      /^job [0-9a-f]{8} \(retry of [0-9a-f]{8}\): backup of app succeeded: snapshot [0-9a-f]{8}, /m,
    );
    const [latest] = await json(['jobs', '--source', 'app', '--limit', '1']);
    assert.equal(latest.trigger, 'retry');
    assert.equal(latest.retry_of, failedId);
    assert.equal(latest.requested_by.startsWith('cli:'), true);

    const unknown = await cli(['jobs', 'retry', 'ffffffffffff']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no job "ffffffffffff"/);
  });

  it('rebuilds a lost catalog from the repository', async () => {
    for (const f of ['', '-wal', '-shm']) await rm(join(dir, `lifeboat.catalog.sqlite${f}`), { force: true });
    const snapshots = await json(['snapshots']);
    const jobs = await json(['jobs']);
    assert.equal(jobs.length, snapshots.length);
    assert.ok(jobs.every((j: { rebuilt: boolean; status: string }) => j.rebuilt && j.status === 'succeeded'));
    const status = await json(['status']);
    assert.equal(
      status.find((s: { name: string }) => s.name === 'app').last_backup.snapshot,
      jobs.find((j: { source: string }) => j.source === 'app').snapshot,
    );
  });

  it('creates, lists and revokes tokens; the secret is printed once', async () => {
    const created = await ok(['token', 'create', 'ci', '--role', 'operator']);
    assert.match(created.stdout, /^lb_[A-Za-z0-9_-]{43}\n$/);
    assert.match(created.stderr, /created token "ci" with role operator; it is shown only now/);
    const dup = await cli(['token', 'create', 'ci', '--role', 'admin']);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /a token named "ci" exists/);
    const badRole = await cli(['token', 'create', 'x', '--role', 'root']);
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--role "root" is not one of viewer, operator, admin/);
    const list = await json(['token', 'list']);
    assert.deepEqual(
      list.map((t: { name: string; role: string }) => [t.name, t.role]),
      [['ci', 'operator']],
    );
    assert.ok(!JSON.stringify(list).includes(created.stdout.trim()), 'the list never shows a secret');
    assert.match((await ok(['token', 'revoke', 'ci'])).stdout, /revoked token "ci"/);
    const gone = await cli(['token', 'revoke', 'ci']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no token named "ci"/);
  });

  it('verifies the audit log, and names the first edited or deleted entry', async () => {
    await ok(['token', 'create', 'a', '--role', 'admin']);
    await ok(['token', 'create', 'b', '--role', 'viewer']);
    const good = await ok(['audit', 'verify']);
    assert.match(good.stdout, /^audit log verified: 4 entries; head: entry 4, [0-9a-f]{64}$/m);
    const list = (await ok(['audit', 'list'])).stdout;
    assert.match(list, /^4 +\S+ \S+ +cli:\S+ +token\.create +b +\{"role":"viewer"\}$/m);

    // Each tampering on its own copy of the catalog.
    const source = new Database(join(dir, 'lifeboat.catalog.sqlite'));
    const copies: Record<string, string> = {};
    for (const name of ['edited', 'deleted', 'truncated']) {
      copies[name] = join(dir, `${name}.sqlite`);
      source.exec(`VACUUM INTO '${copies[name]}'`);
    }
    source.close();
    const tamper = (file: string, sql: string) => {
      const db = new Database(file);
      db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
      db.exec(sql);
      db.close();
    };
    const direct = new Database(copies.edited);
    assert.throws(() => direct.exec(`UPDATE audit SET actor = 'x' WHERE seq = 1`), /append-only/);
    assert.throws(() => direct.exec('DELETE FROM audit WHERE seq = 1'), /append-only/);
    direct.close();

    tamper(copies.edited, `UPDATE audit SET details = '{"role":"admin"}' WHERE seq = 4`);
    tamper(copies.deleted, 'DELETE FROM audit WHERE seq = 2');
    tamper(copies.truncated, 'DELETE FROM audit WHERE seq = 4');
    const expectations: [string, RegExp][] = [
      [
        'edited',
        /broken at entry 4: entry 4 does not match its hash: edited; the 3 entries before it verify/,
      ],
      ['deleted', /broken at entry 2: entry 2 is missing \(the log goes from 1 to 3\): deleted/],
      ['truncated', /broken at entry 4: entries 4 to 4 are missing from the end of the log: deleted/],
    ];
    for (const [name, message] of expectations) {
      const r = await cli(['audit', 'verify'], { LIFEBOAT_CATALOG: copies[name] });
      assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, name);
    }
  });
});
