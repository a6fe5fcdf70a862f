/**
 * @module test/cli/cli-usage
 * The command line's own behaviour through the real CLI: help, version, usage errors and
 * their exit codes, `init`, where the repository and its password come from, and the rule
 * that errors show no stack trace (except with --debug) and never the password.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoEnv, tempDir } from '../helpers/cli.js';
import { bareEnv, CliSession, STACK, show } from '../helpers/cli-session.js';

const PASSWORD = 'pw-usage-Zq8!tangerine-otter';

const session = new CliSession({ password: PASSWORD });
const { cli, ok, fails } = session;

describe('lifeboat: usage, init and errors', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-usage-'));
    session.workDir = dir;
    repo = join(dir, 'repo');
    env = repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD });
  });
  after(() => cleanup());

  it('--help lists every command and exits 0', async () => {
    const r = await ok(['--help'], bareEnv());
    assert.match(r.stdout, /^Usage: lifeboat/m);
    for (const c of [
      'init',
      'backup',
      'snapshots',
      'restore',
      'dump',
      'check',
      'forget',
      'prune',
      'key',
      'unlock',
    ])
      assert.match(r.stdout, new RegExp(`^  ${c}\\b`, 'm'), `--help mentions ${c}`);
    const sub = await ok(['restore', '--help'], bareEnv());
    for (const o of ['--source', '--to', '--include', '--table', '--overwrite', '--dry-run', '--config'])
      assert.ok(sub.stdout.includes(o), `restore --help mentions ${o}`);
    await ok(['help', 'forget'], bareEnv());
  });

  it('--version prints the version from package.json', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
    const r = await ok(['--version'], bareEnv());
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('an unknown command or option, or a missing argument, exits 2 with a hint', async () => {
    const cmd = await fails(['frobnicate'], env, 2, /unknown command 'frobnicate'/);
    assert.match(cmd.stderr, /lifeboat --help/);
    await fails(['snapshots', '--frob'], env, 2, /unknown option '--frob'/);
    await fails(['--frob', 'snapshots'], env, 2, /unknown option '--frob'/);
    await fails(['restore'], env, 2, /missing required argument 'snapshot'/);
    await fails(['snapshots', '--source'], env, 2, /argument missing/);
    await fails(['key', 'remove'], env, 2, /missing required argument/);
  });

  it('a command with subcommands but none given shows its help and exits 2', async () => {
    const r = await cli(['key'], env);
    assert.equal(r.code, 2, show(['key'], r));
    assert.match(r.stdout + r.stderr, /list|add|remove|passwd/);
  });

  it('without a repository setting, says where to set one (exit 2)', async () => {
    await fails(['init'], bareEnv({ LIFEBOAT_PASSWORD: PASSWORD }), 2, /LIFEBOAT_REPO/, dir);
    await fails(['snapshots'], bareEnv({ LIFEBOAT_PASSWORD: PASSWORD }), 2, /repository\.url/, dir);
  });

  it('without a password, names every place one can come from (exit 2)', async () => {
    const r = await fails(['init'], bareEnv({ LIFEBOAT_REPO: repo }), 2, /LIFEBOAT_PASSWORD/, dir);
    assert.match(r.stderr, /LIFEBOAT_PASSWORD_FILE/);
    assert.match(r.stderr, /password_file/);
  });

  it('commands on a repository that does not exist say to run init (exit 1)', async () => {
    await fails(['snapshots'], env, 1, /no repository at .*lifeboat init/);
  });

  it('init creates the repository; a second init fails with "already" (exit 1)', async () => {
    const r = await ok(['init'], env);
    assert.match(r.stdout, /^created repository [0-9a-f]{8} at /m);
    assert.ok(r.stdout.includes(repo), r.stdout);
    const again = await fails(['init'], env, 1, /already/);
    assert.ok(again.stderr.includes(repo), again.stderr);
    // The first repository is intact: it still opens and is empty.
    const list = await ok(['snapshots', '--json'], env);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  it('init --json prints the id and location', async () => {
    const other = join(dir, 'repo-json');
    const r = await ok(['init', '--json'], repoEnv(other, { LIFEBOAT_PASSWORD: PASSWORD }));
    const out = JSON.parse(r.stdout);
    assert.match(out.id, /^[0-9a-f]{32}$/);
    assert.ok(String(out.location).includes(other));
  });

  it('the password can come from LIFEBOAT_PASSWORD_FILE (trailing newline ignored)', async () => {
    const file = join(dir, 'pw.txt');
    await writeFile(file, `${PASSWORD}\n`);
    const fileEnv = bareEnv({ LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD_FILE: file });
    await ok(['snapshots'], fileEnv);
    await fails(
      ['snapshots'],
      bareEnv({ LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD_FILE: join(dir, 'missing.txt') }),
      2,
      /password file .*missing\.txt.*LIFEBOAT_PASSWORD_FILE.*not found/,
    );
  });

  it('the password can come from LIFEBOAT_PASSWORD_COMMAND; a failing command is reported', async () => {
    const file = join(dir, 'pw-for-command.txt');
    await writeFile(file, `${PASSWORD}\n`);
    await ok(['snapshots'], bareEnv({ LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD_COMMAND: `cat '${file}'` }));
    const r = await fails(
      ['snapshots'],
      bareEnv({ LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD_COMMAND: 'echo vault is sealed >&2; exit 3' }),
      2,
      /password command \(from LIFEBOAT_PASSWORD_COMMAND\) failed with exit code 3: vault is sealed/,
    );
    assert.equal(r.stdout, '');
  });

  it('a wrong password fails with exit 1 and says so', async () => {
    await fails(['snapshots'], repoEnv(repo, { LIFEBOAT_PASSWORD: 'not-the-password' }), 1, /wrong password/);
  });

  it('config file errors exit 2 and name the file and the field', async () => {
    const missing = join(dir, 'nope.yaml');
    await fails(['--config', missing, 'snapshots'], bareEnv(), 2, /cannot read .*nope\.yaml.*--config/);
    await fails(['snapshots'], bareEnv({ LIFEBOAT_CONFIG: missing }), 2, /nope\.yaml.*LIFEBOAT_CONFIG/);

    const typo = join(dir, 'typo.yaml');
    await writeFile(typo, `repository:\n  url: ${repo}\n  pasword: x\n`);
    await fails(
      ['snapshots', '--config', typo],
      bareEnv(),
      2,
      /typo\.yaml: repository: unknown key "pasword"/,
    );

    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, `repository:\n  url: [unclosed\n  password: ${PASSWORD}\n`);
    await fails(['snapshots', '--config', broken], bareEnv(), 2, /broken\.yaml: YAML syntax error/);

    const unset = join(dir, 'unset.yaml');
    await writeFile(unset, `repository:\n  url: /x\n  password: \${LB_TEST_UNSET_VARIABLE}\n`);
    await fails(
      ['snapshots', '--config', unset],
      bareEnv(),
      2,
      /repository\.password uses \$\{LB_TEST_UNSET_VARIABLE\}, which is not set/,
    );

    const badType = join(dir, 'type.yaml');
    await writeFile(badType, `repository: {url: ${repo}}\nsources:\n  x: {type: oracle, path: /x}\n`);
    await fails(['backup', '--config', badType], bareEnv(), 2, /unknown source type "oracle"/);
  });

  it('a source on the command line is checked: --type, --name, --path (exit 2)', async () => {
    await fails(['backup', '--type', 'files'], env, 2, /needs --type and --name/);
    await fails(['backup', '--type', 'files', '--name', 'x'], env, 2, /--type files needs --path/);
    await fails(['backup', '--type', 'oracle', '--name', 'x', '--path', dir], env, 2, /unknown source type/);
    await fails(
      ['backup', '--type', 'files', '--name', '-bad', '--path', dir],
      env,
      2,
      /not a valid source name/,
    );
    await fails(['backup', '--type', 'files', '--name', 'x', '--path', 'relative/dir'], env, 2, /absolute/);
    await fails(['backup'], env, 2, /no sources/);
    await fails(['backup', 'nope'], env, 2, /no source "nope"/);
  });

  it('options that take a value reject bad ones with exit 2', async () => {
    await fails(['snapshots', '--after', 'yesterday'], env, 2, /--after "yesterday" is not a time.*ISO 8601/);
    await fails(['check', '--read-data-subset', 'lots'], env, 2, /--read-data-subset "lots"/);
    await fails(['restore', 'not-an-id'], env, 2, /not a snapshot id/);
    await fails(['restore', 'latest', '--at', '2026-01-01T00:00:00Z'], env, 2, /--at/);
  });

  it('forget --keep-last with a non-number exits 2 with a message, not a crash', async () => {
    for (const bad of ['abc', '-1', '1.5']) {
      const args = ['forget', '--keep-last', bad];
      const r = await cli(args, env, { sweep: false });
      assert.doesNotMatch(r.stderr, STACK, `no stack trace: ${show(args, r)}`);
      assert.equal(r.code, 2, show(args, r));
      assert.match(r.stderr, /is not a count/);
    }
  });

  it('--debug shows the stack trace that is otherwise hidden', async () => {
    const plain = await fails(['restore', 'deadbeefdeadbeef'], env, 1, /no snapshot deadbeefdeadbeef/);
    assert.doesNotMatch(plain.stderr, STACK);
    const debug = await fails(['restore', 'deadbeefdeadbeef', '--debug'], env, 1, /no snapshot/);
    assert.match(debug.stderr, /^\s+at .+:\d+:\d+\)?$/m);
    const before = await fails(['--debug', 'restore', 'deadbeefdeadbeef'], env, 1, /no snapshot/);
    assert.match(before.stderr, /^\s+at /m);
  });

  it('-q and --quiet are accepted everywhere', async () => {
    await ok(['-q', 'snapshots'], env);
    await ok(['snapshots', '--quiet'], env);
  });

  it('no output shows the password, and no error a stack trace without --debug', () => {
    // --debug shows the stack trace on purpose.
    session.assertNoLeaks(20, (args) => args.includes('--debug'));
  });
});
