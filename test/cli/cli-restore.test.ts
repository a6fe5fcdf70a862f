/**
 * @module test/cli/cli-restore
 * `restore` and `dump` of file trees through the real CLI: whole and partial restores, the
 * non-empty target rule, dry runs, choosing a snapshot (id, prefix, latest), and a restore on
 * a "fresh machine" that has only the repository URL and the password.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { bareEnv, CliSession, STACK, show } from '../helpers/cli-session.js';

const PASSWORD = 'pw-restore-Wm5$copper-lantern';

const session = new CliSession({ password: PASSWORD });
const { ok, fails, cliBytes } = session;

async function snapshotsJson(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ id: string; source: string }[]> {
  return JSON.parse((await ok(['snapshots', '--json', ...args], env)).stdout);
}

/** A small tree with the things a restore must keep: modes, times, a symlink, binary data. */
async function makeTree(root: string, version: string): Promise<void> {
  await mkdir(join(root, 'a', 'deep'), { recursive: true });
  await mkdir(join(root, 'empty'), { recursive: true });
  await writeFile(join(root, 'a', 'b.txt'), `b ${version}\n`);
  await writeFile(join(root, 'a', 'deep', 'blob.bin'), randomBytes(50_000));
  await writeFile(join(root, 'c.txt'), `c ${version}\n`);
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'run.sh'), 0o750);
  await symlink('a/b.txt', join(root, 'link-to-b'));
  await utimes(join(root, 'c.txt'), new Date('2020-02-02T02:02:02Z'), new Date('2020-02-02T02:02:02Z'));
}

describe('lifeboat restore and dump (files)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let data: string;
  /** A copy of the tree as it was at the first backup. */
  let v1: string;
  let first: string;
  let second: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-restore-'));
    session.workDir = dir;
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_PASSWORD: PASSWORD });
    data = join(dir, 'data');
    v1 = join(dir, 'v1');
    await ok(['init'], env);
    await makeTree(data, 'one');
    await ok(['backup', '--type', 'files', '--name', 'site', '--path', data], env);
    // Keep version one aside (restored, and checked equal below), then change the data.
    await ok(['restore', 'latest', '--to', v1], env);
    await writeFile(join(data, 'a', 'b.txt'), 'b two\n');
    await writeFile(join(data, 'new.txt'), 'new in two\n');
    await ok(['backup', '--type', 'files', '--name', 'site', '--path', data], env);
    [first, second] = (await snapshotsJson(env)).map((s) => s.id);
  });
  after(() => cleanup());

  it('restores the whole tree with its metadata', async () => {
    assert.ok(first && second);
    const to = join(dir, 'whole');
    const r = await ok(['restore', 'latest', '--to', to], env);
    assert.match(
      r.stdout,
      new RegExp(`^restored snapshot ${second.slice(0, 8)} \\(site\\) to ${to}: 5 files, 3 dirs`, 'm'),
    );
    assert.deepEqual(await compareTrees(data, to), []);
    assert.equal(await readFile(join(to, 'a', 'b.txt'), 'utf8'), 'b two\n');
  });

  it('picks a snapshot by full id and by 8-character prefix', async () => {
    const byId = join(dir, 'by-id');
    await ok(['restore', first, '--to', byId], env);
    assert.equal(await readFile(join(byId, 'a', 'b.txt'), 'utf8'), 'b one\n');
    assert.ok(!existsSync(join(byId, 'new.txt')));
    assert.deepEqual(await compareTrees(v1, byId), []);

    const byPrefix = join(dir, 'by-prefix');
    const r = await ok(['restore', first.slice(0, 8), '--to', byPrefix], env);
    assert.ok(r.stdout.includes(first.slice(0, 8)));
    assert.deepEqual(await compareTrees(v1, byPrefix), []);
  });

  it('an unknown id fails with exit 1; a malformed one with exit 2', async () => {
    await fails(
      ['restore', 'feedfacefeedface', '--to', join(dir, 'x')],
      env,
      1,
      /no snapshot feedfacefeedface.*lifeboat snapshots/,
    );
    await fails(['restore', 'abc', '--to', join(dir, 'x')], env, 2, /8 or more hex characters/);
    assert.ok(!existsSync(join(dir, 'x')));
  });

  it('--include restores one file, or one folder, and nothing else', async () => {
    const one = join(dir, 'one-file');
    await ok(['restore', 'latest', '--to', one, '--include', 'a/b.txt'], env);
    assert.deepEqual(await readdir(one), ['a']);
    assert.deepEqual(await readdir(join(one, 'a')), ['b.txt']);
    assert.equal(await readFile(join(one, 'a', 'b.txt'), 'utf8'), 'b two\n');

    const folder = join(dir, 'one-dir');
    await ok(['restore', 'latest', '--to', folder, '--include', 'a/deep'], env);
    assert.deepEqual(await readdir(folder), ['a']);
    assert.deepEqual(await readdir(join(folder, 'a')), ['deep']);
    assert.deepEqual(await compareTrees(join(data, 'a', 'deep'), join(folder, 'a', 'deep')), []);

    const two = join(dir, 'two-includes');
    await ok(['restore', first, '--to', two, '--include', 'c.txt', '--include', 'link-to-b'], env);
    assert.deepEqual((await readdir(two)).sort(), ['c.txt', 'link-to-b']);
    assert.equal(await readFile(join(two, 'c.txt'), 'utf8'), 'c one\n');

    await fails(
      ['restore', 'latest', '--to', join(dir, 'none'), '--include', 'no/such'],
      env,
      1,
      /"no\/such" is not in snapshot/,
    );
    assert.ok(!existsSync(join(dir, 'none')));
  });

  it('refuses a non-empty target without --overwrite, and replaces files with it', async () => {
    const to = join(dir, 'busy');
    await mkdir(to);
    await writeFile(join(to, 'c.txt'), 'local edit\n');
    const r = await fails(['restore', 'latest', '--to', to], env, 1, /not empty/);
    assert.match(r.stderr, /--overwrite/);
    assert.equal(await readFile(join(to, 'c.txt'), 'utf8'), 'local edit\n');

    await ok(['restore', 'latest', '--to', to, '--overwrite'], env);
    assert.equal(await readFile(join(to, 'c.txt'), 'utf8'), 'c one\n');
    assert.deepEqual(await compareTrees(data, to), []);
  });

  it('restores to the original path when --to is not given (with --overwrite there)', async () => {
    await writeFile(join(data, 'c.txt'), 'damaged\n');
    await fails(['restore', 'latest'], env, 1, /--overwrite/);
    await ok(['restore', 'latest', '--overwrite'], env);
    assert.equal(await readFile(join(data, 'c.txt'), 'utf8'), 'c one\n');
  });

  it('--dry-run lists the paths and writes nothing', async () => {
    const to = join(dir, 'dry');
    const r = await ok(['restore', 'latest', '--to', to, '--dry-run'], env);
    const lines = r.stdout.trimEnd().split('\n');
    for (const p of [
      'a/',
      'a/b.txt',
      'a/deep/',
      'a/deep/blob.bin',
      'c.txt',
      'empty/',
      'link-to-b',
      'new.txt',
      'run.sh',
    ])
      assert.ok(lines.includes(p), `dry run lists ${p}:\n${r.stdout}`);
    assert.match(lines.at(-1) ?? '', /^would restore snapshot [0-9a-f]{8} \(site\) to /);
    assert.ok(!existsSync(to), 'nothing written');

    const partial = await ok(['restore', first, '--to', to, '--dry-run', '--include', 'a', '--json'], env);
    const out = JSON.parse(partial.stdout);
    assert.equal(out.snapshot, first);
    assert.deepEqual(out.items, ['a/', 'a/b.txt', 'a/deep/', 'a/deep/blob.bin']);
    assert.ok(!existsSync(to));
  });

  it('"latest" across several sources needs --source (exit 2 with the names)', async () => {
    const other = join(dir, 'other');
    await mkdir(other);
    await writeFile(join(other, 'o.txt'), 'other\n');
    await ok(['backup', '--type', 'files', '--name', 'other', '--path', other], env);
    const r = await fails(['restore', 'latest', '--to', join(dir, 'amb')], env, 2, /"latest" is ambiguous/);
    assert.match(r.stderr, /--source/);
    assert.match(r.stderr, /site/);
    assert.match(r.stderr, /other/);
    assert.ok(!existsSync(join(dir, 'amb')));

    await ok(['restore', 'latest', '--source', 'other', '--to', join(dir, 'amb')], env);
    assert.deepEqual(await compareTrees(other, join(dir, 'amb')), []);
    await fails(
      ['restore', 'latest', '--source', 'nobody', '--to', join(dir, 'amb2')],
      env,
      1,
      /no snapshot of source "nobody"/,
    );
  });

  it('dump --path gives one file of a tree, byte for byte', async () => {
    const blob = await readFile(join(data, 'a', 'deep', 'blob.bin'));
    const r = await cliBytes(['dump', 'latest', '--source', 'site', '--path', 'a/deep/blob.bin'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.bytes.equals(blob));

    const old = await cliBytes(['dump', first, '--path', 'a/b.txt'], env);
    assert.equal(old.code, 0, old.stderr);
    assert.equal(old.bytes.toString(), 'b one\n');

    const out = join(dir, 'b.txt');
    const w = await ok(['dump', second, '--path', '/a/b.txt', '--output', out], env);
    assert.equal(w.stdout, '');
    assert.match(w.stderr, /wrote b\.txt \(6 B\) to /);
    assert.equal(await readFile(out, 'utf8'), 'b two\n');
  });

  it('dump without --path of a tree exits 2 and says to use --path or restore', async () => {
    const r = await fails(['dump', second], env, 2, /holds \d+ entries; name one with --path/);
    assert.match(r.stderr, /lifeboat restore/);
    await fails(['dump', second, '--path', 'a'], env, 2, /a is a dir, not a file.*--include a/);
    await fails(['dump', second, '--path', 'a/nope.txt'], env, 1, /no file a\/nope\.txt/);
    const out = join(dir, 'not-written.bin');
    await fails(['dump', second, '--output', out], env, 2, /--path/);
    assert.ok(!existsSync(out));
    assert.ok(!existsSync(`${out}.lifeboat-partial`));
  });

  it('dump --output into a folder that does not exist fails with a message, not a crash', async () => {
    const out = join(dir, 'no', 'such', 'folder', 'b.txt');
    const args = ['dump', second, '--path', 'a/b.txt', '--output', out];
    // Checked here rather than in the final sweep, so a failure points at this case alone.
    const r = await runCli(args, env, { cwd: session.workDir });
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD));
    assert.doesNotMatch(r.stderr, STACK, show(args, r));
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /^lifeboat: .*no\/such\/folder/m);
  });

  it('a file snapshot of a single file dumps without --path', async () => {
    const file = join(dir, 'single.bin');
    const bytes = randomBytes(70_000);
    await writeFile(file, bytes);
    await ok(['backup', '--type', 'files', '--name', 'single', '--path', file], env);
    const r = await cliBytes(['dump', 'latest', '--source', 'single'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.bytes.equals(bytes));
  });

  it('restores on a fresh machine: only LIFEBOAT_REPO and the password, no config', async () => {
    // Back up from a config file (password in the file through ${...}) ...
    const app = join(dir, 'app-data');
    await makeTree(app, 'app');
    const repo = join(dir, 'repo-fresh');
    const config = join(dir, 'fresh-config.yaml');
    await writeFile(
      config,
      `repository:\n  url: ${repo}\n  password: \${LB_TEST_PW}\nsources:\n  app:\n    type: files\n    path: ${app}\n    exclude: ["*.sh"]\n`,
    );
    const configured = bareEnv({ LB_TEST_PW: PASSWORD, LIFEBOAT_CONFIG: config });
    await ok(['init'], configured);
    await ok(['backup', '--tag', 'nightly'], configured);

    // ... then lose the host: the config is gone and the data moved away.
    const saved = join(dir, 'app-data-moved');
    await rename(app, saved);
    const cwd = join(dir, 'fresh-machine');
    await mkdir(cwd);
    const fresh = bareEnv({ LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD: PASSWORD });
    const [snap] = await snapshotsJson(fresh);
    assert.equal(snap.source, 'app');

    // Without --to it goes back where it came from, with the exclude rule kept.
    const r = await ok(['restore', 'latest'], fresh, cwd);
    assert.ok(r.stdout.includes(app), r.stdout);
    assert.deepEqual(await compareTrees(saved, app, { skip: (p) => p === 'run.sh' }), []);
    assert.ok(!existsSync(join(app, 'run.sh')));
    const elsewhere = join(dir, 'fresh-elsewhere');
    await ok(['restore', snap.id.slice(0, 12), '--to', elsewhere], fresh, cwd);
    assert.deepEqual(await compareTrees(app, elsewhere), []);
  });

  it('no output shows the password, and no error a stack trace', () => {
    session.assertNoLeaks(20);
  });
});
