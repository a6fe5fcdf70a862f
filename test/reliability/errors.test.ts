/**
 * Reliability: failures a user meets say what happened, to what, and what to do next; exit
 * non-zero without a stack trace; and leave the repository as it was (it still checks and
 * restores). Wrong password, missing repository, malformed config, an unreadable source file
 * (as an unprivileged user: the rest is saved, the file named, exit 3), and a full disk (a
 * small tmpfs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { asNobody } from '../helpers/as-nobody.js';
import { type CliResult, lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { SeededRandom, writeTree } from '../helpers/data-gen.js';
import { note, STACK_LINE, tempFiles } from '../helpers/repo-files.js';

const MiB = 1024 * 1024;

interface SnapshotJson {
  id: string;
  source: string;
  skipped?: { path: string; error: string }[];
  skippedCount?: number;
}

function assertClean(r: CliResult, what: string): void {
  assert.doesNotMatch(r.stderr, STACK_LINE, `${what}: stack trace without --debug:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/, `${what}: reported as an internal error:\n${r.stderr}`);
}

async function snapshotIds(env: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await lifeboat(['snapshots', '--json'], env);
  return (JSON.parse(r.stdout) as SnapshotJson[]).map((s) => s.id).sort();
}

describe('clear errors, nothing damaged', { timeout: 180_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let src: string;
  let before1: string[];

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-errors-'));
    repo = nodePath.join(work, 'repo');
    env = repoEnv(repo);
    src = nodePath.join(work, 'src');
    await writeTree(src, { seed: 'errors-src', bytes: 512 * 1024, files: 10 });
    await lifeboat(['init'], env);
    await lifeboat(['backup', '--type', 'files', '--name', 'src', '--path', src], env);
    before1 = await snapshotIds(env);
  });

  after(() => cleanup());

  async function assertUntouched(): Promise<void> {
    assert.deepEqual(await snapshotIds(env), before1);
    const check = await runCli(['check', '--read-data'], env);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  }

  test('wrong password: exit 1, says so, no stack trace, no password echoed', async () => {
    const wrong = { ...env, LIFEBOAT_PASSWORD: 'not-the-password-7f3a' };
    for (const args of [
      ['snapshots'],
      ['backup', '--type', 'files', '--name', 'src', '--path', src],
      ['restore', 'latest', '--to', nodePath.join(work, 'never')],
      ['check'],
      ['prune'],
    ]) {
      const r = await runCli(args, wrong);
      note(`${args[0]}: exit ${r.code}: ${r.stderr.trim()}`);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /wrong password/i);
      assert.ok(r.stderr.includes(repo), 'the message names the repository');
      assert.ok(!r.stderr.includes('not-the-password-7f3a'), 'the password appears in the message');
      assertClean(r, args[0]);
    }
    assert.equal(existsSync(nodePath.join(work, 'never')), false, 'restore wrote something');
    await assertUntouched();
  });

  test('missing repository: names the path and `lifeboat init`, creates nothing', async () => {
    const missing = nodePath.join(work, 'no-such-repo');
    const menv = repoEnv(missing);
    for (const args of [
      ['snapshots'],
      ['backup', '--type', 'files', '--name', 'src', '--path', src],
      ['restore', 'latest', '--to', nodePath.join(work, 'never')],
      ['check', '--read-data'],
      ['prune'],
      ['unlock'],
    ]) {
      const r = await runCli(args, menv);
      note(`${args[0]}: exit ${r.code}: ${r.stderr.trim()}`);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`no repository at ${missing}`), `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /lifeboat init/);
      assertClean(r, args[0]);
    }
    assert.equal(existsSync(missing), false, 'a command created the missing repository folder');
  });

  test('malformed config: exit 2, names the line or the field, never a secret', async () => {
    const cases: { name: string; text: string; expect: RegExp }[] = [
      {
        name: 'yaml syntax',
        text: 'repository:\n  url: /srv/repo\n password: hunter2-secret [\n',
        expect: /YAML syntax error at line 3/,
      },
      {
        name: 'unknown key',
        text: `repository:\n  url: ${repo}\n  pasword: hunter2-secret\n`,
        expect: /repository: unknown key "pasword"/,
      },
      {
        name: 'wrong type',
        text: `sources:\n  app:\n    type: files\n    path: ${src}\n    retention: { daily: seven }\n`,
        expect: /sources\.app\.retention\.daily: expected a number/,
      },
      {
        name: 'unknown source type',
        text: 'sources:\n  app:\n    type: postgress\n    url: postgres://x\n',
        expect: /sources\.app.*unknown source type "postgress"/,
      },
    ];
    for (const c of cases) {
      const file = nodePath.join(work, `bad-${c.name.replace(/ /g, '-')}.yaml`);
      await fs.writeFile(file, c.text);
      for (const args of [['snapshots'], ['backup']]) {
        const r = await runCli([...args, '--config', file], env);
        note(`${c.name} (${args[0]}): exit ${r.code}: ${r.stderr.trim()}`);
        assert.equal(r.code, 2, `${c.name}: ${r.stderr}`);
        assert.match(r.stderr, c.expect, c.name);
        assert.ok(r.stderr.includes(file), `${c.name}: the message names the file`);
        assert.ok(!r.stderr.includes('hunter2-secret'), `${c.name}: a secret appears in the message`);
        assertClean(r, c.name);
      }
    }
    await assertUntouched();
  });

  test('an unreadable source file: exit 3, names the file, a snapshot of the rest that records it', async (t) => {
    const base = nodePath.join(work, 'as-nobody');
    const nsrc = nodePath.join(base, 'src');
    const nrepo = nodePath.join(base, 'repo');
    await fs.chmod(work, 0o755);
    const pub = nodePath.join(base, 'public');
    await writeTree(nsrc, { seed: 'nobody-src', bytes: 256 * 1024, files: 8 });
    await writeTree(pub, { seed: 'nobody-public', bytes: 64 * 1024, files: 4 });
    const secret = nodePath.join(nsrc, 'group-0', 'payroll.db');
    await fs.writeFile(secret, 'salaries\n');
    await fs.chmod(secret, 0o000);
    await fs.mkdir(nrepo, { recursive: true });
    await fs.chmod(base, 0o755);

    const nobody = await asNobody(env, base);
    if (typeof nobody === 'string') {
      t.skip(nobody);
      return;
    }
    const { uid, gid } = nobody;
    await fs.chown(nrepo, uid, gid);
    const nenv = repoEnv(nrepo);
    const as = (args: string[]) => nobody.run(args, nenv, base);

    assert.equal((await as(['init'])).code, 0);
    const ok = await as(['backup', '--type', 'files', '--name', 'other', '--path', pub]);
    assert.equal(ok.code, 0, ok.stderr);
    const r = await as(['backup', '--type', 'files', '--name', 'app', '--path', nsrc]);
    note(`as ${nobody.via} nobody: exit ${r.code}: ${r.stdout.trim()} / ${r.stderr.trim()}`);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: app \(files\), .*; 1 unreadable path left out$/m);
    assert.ok(r.stderr.includes(`skipped: ${secret}: permission denied`), r.stderr);
    assert.ok(r.stderr.includes(secret), `the message does not name ${secret}: ${r.stderr}`);
    assert.match(r.stderr, /lifeboat: \[backup\] app backed up in part; .*permission denied/);
    assertClean(r, 'unreadable file');

    // The snapshot is there and says what it lacks, in the table and in JSON.
    const list = JSON.parse((await as(['snapshots', '--json'])).stdout) as SnapshotJson[];
    assert.deepEqual(
      list.map((s) => s.source),
      ['other', 'app'],
    );
    assert.deepEqual(list[1].skipped, [{ path: secret, error: 'permission denied' }]);
    assert.equal(list[1].skippedCount, 1);
    assert.equal(list[0].skipped, undefined, 'a complete snapshot lists nothing skipped');
    const table = await as(['snapshots']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /Size\s+Skipped\n/);
    assert.match(table.stdout, new RegExp(`^${list[1].id.slice(0, 8)} .*1 unreadable$`, 'm'));
    assert.ok(table.stdout.includes(`  ${secret}: permission denied`), table.stdout);
    const check = await as(['check', '--read-data']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.deepEqual(await tempFiles(nrepo), []);

    // --json says the same per source: partial, the snapshot, the path and why.
    const json = await as(['backup', '--type', 'files', '--name', 'app', '--path', nsrc, '--json']);
    assert.equal(json.code, 3, json.stderr);
    const [entry] = JSON.parse(json.stdout);
    assert.equal(entry.source, 'app');
    assert.equal(entry.status, 'partial');
    assert.equal(entry.error, null);
    assert.equal(entry.snapshots.length, 1);
    assert.deepEqual(entry.skipped, [{ path: secret, error: 'permission denied' }]);
    assert.deepEqual(entry.saved[0].skipped, entry.skipped);

    // Everything else in it restores identical.
    const partial = nodePath.join(base, 'restored-partial');
    await fs.mkdir(partial);
    await fs.chown(partial, uid, gid);
    const back = await as(['restore', list[1].id, '--to', partial, '--overwrite']);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(existsSync(nodePath.join(partial, 'group-0', 'payroll.db')), false);
    assert.deepEqual(
      await compareTrees(nsrc, partial, { owners: false, skip: (p) => p.endsWith('payroll.db') }),
      [],
    );

    // A source whose folder itself cannot be read saves nothing: a failure, exit 1.
    const closed = nodePath.join(base, 'closed');
    await fs.mkdir(closed, { mode: 0o700 });
    await fs.writeFile(nodePath.join(closed, 'x.txt'), 'x');
    const denied = await as(['backup', '--type', 'files', '--name', 'closed', '--path', closed]);
    assert.equal(denied.code, 1, denied.stderr);
    assert.ok(denied.stderr.includes(`cannot read ${closed}: permission denied`), denied.stderr);
    assertClean(denied, 'unreadable root');
    const after = JSON.parse((await as(['snapshots', '--json'])).stdout) as SnapshotJson[];
    assert.ok(!after.some((s) => s.source === 'closed'), 'a snapshot was written for an unreadable root');

    // The message's advice works: excluding the file, the backup succeeds and restores.
    const excluded = await as([
      'backup',
      '--type',
      'files',
      '--name',
      'app',
      '--path',
      nsrc,
      '--exclude',
      'payroll.db',
    ]);
    assert.equal(excluded.code, 0, excluded.stderr);
    const to = nodePath.join(base, 'restored');
    await fs.mkdir(to);
    await fs.chown(to, uid, gid);
    const restored = await as(['restore', 'latest', '--source', 'app', '--to', to, '--overwrite']);
    assert.equal(restored.code, 0, restored.stderr);
    // Restored by nobody, the files belong to nobody; everything else must match.
    const diffs = await compareTrees(nsrc, to, { owners: false, skip: (p) => p.endsWith('payroll.db') });
    assert.deepEqual(diffs, []);
  });

  test('a full disk: non-zero, says the disk is full, earlier snapshots intact; works once there is room', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to mount a tmpfs');
      return;
    }
    const mnt = nodePath.join(work, 'small-disk');
    await fs.mkdir(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    try {
      const frepo = nodePath.join(mnt, 'repo');
      const fenv = repoEnv(frepo);
      const small = nodePath.join(work, 'fd-small');
      const large = nodePath.join(work, 'fd-large');
      await writeTree(small, { seed: 'fd-small', bytes: 200 * 1024, files: 6 });
      await fs.mkdir(large);
      const rnd = new SeededRandom('fd-large');
      for (let i = 0; i < 5; i++)
        await fs.writeFile(nodePath.join(large, `blob-${i}.bin`), rnd.bytes(4 * MiB));

      await lifeboat(['init'], fenv);
      await lifeboat(['backup', '--type', 'files', '--name', 'small', '--path', small], fenv);
      const earlier = await snapshotIds(fenv);

      const r = await runCli(['backup', '--type', 'files', '--name', 'large', '--path', large], fenv);
      note(`backup onto a full disk: exit ${r.code}: ${r.stderr.trim()}`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /disk full|no space/i);
      assert.ok(r.stderr.includes(frepo), 'the message names the repository');
      assertClean(r, 'full disk');

      assert.deepEqual(await snapshotIds(fenv), earlier, 'the failed backup left a snapshot');
      assert.deepEqual(await tempFiles(frepo), [], 'the failed write left a temp file on the full disk');
      const check = await runCli(['check', '--read-data'], fenv);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const to = nodePath.join(work, 'fd-restore-small');
      await lifeboat(['restore', 'latest', '--source', 'small', '--to', to], fenv);
      assert.deepEqual(await compareTrees(small, to), []);

      // With room again, the same backup succeeds and restores.
      execFileSync('mount', ['-o', 'remount,size=64m', mnt], { stdio: 'pipe' });
      await lifeboat(['backup', '--type', 'files', '--name', 'large', '--path', large], fenv);
      const toLarge = nodePath.join(work, 'fd-restore-large');
      await lifeboat(['restore', 'latest', '--source', 'large', '--to', toLarge], fenv);
      assert.deepEqual(await compareTrees(large, toLarge), []);
      const again = await runCli(['check', '--read-data'], fenv);
      assert.equal(again.code, 0, again.stdout + again.stderr);
    } finally {
      try {
        execFileSync('umount', [mnt], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
      }
    }
  });
});
