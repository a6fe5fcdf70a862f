/**
 * @module test/mysql/mysql-faults
 * The mysql source when things go wrong, through the real CLI: wrong credentials, an
 * unreachable server, a missing database, missing client programs, the password kept out of
 * every command line (read from /proc while the dump runs) and every message, hooks around
 * backup and restore, and the server killed in the middle of a dump. Every failure must exit
 * non-zero, name the source and what happened, and leave no snapshot.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/testing/servers/free-port.js';
import { type MariadbServer, startMariadb } from '../../src/testing/servers/mariadb.js';
import { type CliResult, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';
import {
  assertSameDatabase,
  createBigTable,
  createVariedDatabase,
  mysqlSkipReason,
} from './mysql-fixture.js';

const skip = mysqlSkipReason();

/** Child processes of `pid` with their argv, from /proc. */
function childrenOf(pid: number): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a.length > 0);
      out.push({ pid: Number(entry), argv });
    } catch {} // the process ended meanwhile
  }
  return out;
}

function finished(child: ReturnType<typeof startCli>): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mysql source: failures, secrets and hooks through the CLI', { skip: skip ?? false }, () => {
  let server: MariadbServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  const log = (name: string) => join(dir, `${name}.log`);
  const WRONG = 'Wr0ng-pa55word-xyz';

  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    runCli(['--config', config, ...args], { ...env, ...extra }, { cwd: dir });
  const show = (args: string[], r: CliResult) =>
    `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  const ok = async (...args: string[]): Promise<CliResult> => {
    const r = await cli(args);
    assert.equal(r.code, 0, show(args, r));
    return r;
  };
  const failsClearly = async (
    message: RegExp,
    args: string[],
    extra: NodeJS.ProcessEnv = {},
  ): Promise<CliResult> => {
    const r = await cli(args, extra);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, message, show(args, r));
    assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace without --debug');
    for (const secret of [server.password, encodeURIComponent(server.password), WRONG]) {
      assert.ok(
        !r.stderr.includes(secret) && !r.stdout.includes(secret),
        'a password leaked into the output',
      );
    }
    return r;
  };
  const snapshotsOf = async (source: string): Promise<{ id: string; source: string }[]> =>
    JSON.parse((await ok('snapshots', '--json', '--source', source)).stdout);

  before(async () => {
    server = await startMariadb();
    ({ dir, cleanup } = await tempDir('lifeboat-mysql-faults-'));
    env = repoEnv(join(dir, 'repo'));
    config = join(dir, 'lifeboat.yaml');
    createVariedDatabase(server, 'small', 100);
    createBigTable(server, 'big', 'a_rows', 400_000);
    const badPassword = server.urlFor('small').replace(encodeURIComponent(server.password), WRONG);
    const closedPort = await freePort();
    const sources: Record<string, Record<string, unknown>> = {
      'wrong-password': { type: 'mysql', url: badPassword },
      unreachable: { type: 'mysql', url: `mysql://lbtest:x@127.0.0.1:${closedPort}/small` },
      'no-such-db': { type: 'mysql', url: server.urlFor('nope') },
      small: { type: 'mysql', url: server.urlFor('small') },
      big: { type: 'mysql', url: server.urlFor('big') },
      'big-killed': { type: 'mysql', url: server.urlFor('big') },
      hooked: {
        type: 'mysql',
        url: server.urlFor('small'),
        hooks: {
          before_backup: `echo "before_backup" >> ${log('hooked')}`,
          after_backup: `echo "after_backup $LIFEBOAT_STATUS $LIFEBOAT_SNAPSHOT" >> ${log('hooked')}`,
          before_restore: `echo "before_restore $LIFEBOAT_TARGET" >> ${log('hooked')}`,
          after_restore: `echo "after_restore $LIFEBOAT_STATUS" >> ${log('hooked')}`,
        },
      },
      blocked: {
        type: 'mysql',
        url: server.urlFor('small'),
        hooks: {
          before_backup: 'echo "cannot enter maintenance mode: lock held by deploy-42"; exit 3',
        },
      },
      'failing-with-hooks': {
        type: 'mysql',
        url: badPassword,
        hooks: {
          before_backup: `echo "before_backup" >> ${log('failing')}`,
          after_backup: `echo "after_backup $LIFEBOAT_STATUS $LIFEBOAT_ERROR" >> ${log('failing')}`,
        },
      },
    };
    await writeFile(config, JSON.stringify({ sources }, null, 2)); // JSON is YAML
    await ok('init');
  });

  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('wrong credentials: fails naming the source and the server, without the password', async () => {
    await failsClearly(
      /backup of source "wrong-password" failed: access denied for lbtest@127\.0\.0\.1:\d+/,
      ['backup', 'wrong-password'],
    );
    assert.deepEqual(await snapshotsOf('wrong-password'), []);
  });

  it('an unreachable server: fails saying it cannot be reached', async () => {
    await failsClearly(
      /backup of source "unreachable" failed: cannot reach the server at lbtest@127\.0\.0\.1:\d+/,
      ['backup', 'unreachable'],
    );
    assert.deepEqual(await snapshotsOf('unreachable'), []);
  });

  it('a database that does not exist: fails naming it', async () => {
    await failsClearly(
      /backup of source "no-such-db" failed: database "nope" does not exist on lbtest@127\.0\.0\.1:\d+/,
      ['backup', 'no-such-db'],
    );
    assert.deepEqual(await snapshotsOf('no-such-db'), []);
  });

  it('missing client programs: the error names the package to install', async () => {
    const empty = join(dir, 'empty-bin');
    await mkdir(empty, { recursive: true });
    await failsClearly(
      /source "small" failed: .*not found: install the mariadb-client package/,
      ['backup', 'small'],
      { PATH: empty },
    );
    assert.deepEqual(await snapshotsOf('small'), []);
  });

  it('keeps the password out of every command line, environment and snapshot', async () => {
    const child = startCli(['--config', config, 'backup', 'big'], env, dir);
    const done = finished(child);
    let dump: { pid: number; argv: string[] } | undefined;
    let optionFile: { path: string; mode: number; dirMode: number; text: string } | undefined;
    let environ = '';
    const seen: string[][] = [];
    const deadline = Date.now() + 60_000;
    while (!dump && Date.now() < deadline && child.exitCode === null) {
      for (const c of childrenOf(child.pid!)) {
        seen.push(c.argv);
        if (c.argv[0]?.endsWith('mariadb-dump') || c.argv[0]?.endsWith('mysqldump')) {
          dump = c;
          const first = c.argv[1] ?? '';
          if (first.startsWith('--defaults-extra-file=')) {
            const path = first.slice('--defaults-extra-file='.length);
            try {
              optionFile = {
                path,
                mode: statSync(path).mode & 0o777,
                dirMode: statSync(dirname(path)).mode & 0o777,
                text: readFileSync(path, 'utf8'),
              };
              environ = readFileSync(`/proc/${c.pid}/environ`, 'utf8');
            } catch {}
          }
        }
      }
      await sleep(5);
    }
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(dump, 'saw the mariadb-dump child while it ran');
    assert.match(
      dump.argv[1],
      /^--defaults-extra-file=.*lifeboat-mysql-[^/]+\/client\.cnf$/,
      'the option file comes first',
    );
    for (const argv of seen) {
      const line = argv.join(' ');
      assert.ok(
        !line.includes(server.password) && !line.includes(encodeURIComponent(server.password)),
        `password in argv: ${argv[0]}`,
      );
      // Password options are the client programs' own. (A /proc read that meets a process
      // mid-exec can show node's argv torn into the client's, e.g. "-port=..." from
      // "--port=...": the check above for the password itself covers those.)
      if (/(mariadb|mysql)[^/]*$/.test(argv[0] ?? '')) {
        assert.ok(!argv.some((a) => /^(-p.|--password)/.test(a)), `a password option in argv: ${line}`);
      }
    }
    assert.ok(optionFile, 'read the option file while the dump ran');
    assert.equal(optionFile.mode, 0o600);
    assert.match(optionFile.text, /^\[client\]\npassword="/);
    assert.equal(optionFile.dirMode, 0o700);
    assert.ok(!environ.includes(server.password), 'the password is not in the environment either');
    assert.ok(!existsSync(dirname(optionFile.path)), 'the option file and its folder are removed');

    const listed = (await ok('snapshots', '--json')).stdout;
    assert.ok(!listed.includes(server.password) && !listed.includes(encodeURIComponent(server.password)));
    const [snap] = await snapshotsOf('big');
    assert.ok(snap, 'the backup was saved');
    const stats = JSON.parse(listed).find((s: { id: string }) => s.id === snap.id).stats;
    assert.equal(stats.rows.a_rows, 400_000);
  });

  it('hooks run around backup and restore with the outcome', async () => {
    await ok('backup', 'hooked');
    const [snap] = await snapshotsOf('hooked');
    await ok('restore', 'latest', '--source', 'hooked', '--to', 'small_hooked');
    assertSameDatabase(server, 'small', 'small_hooked');
    const lines = (await readFile(log('hooked'), 'utf8')).trim().split('\n');
    assert.deepEqual(lines, [
      'before_backup',
      `after_backup success ${snap.id}`,
      'before_restore small_hooked',
      'after_restore success',
    ]);
  });

  it('a failing before_backup aborts the backup with the hook output', async () => {
    await failsClearly(
      /before_backup hook of source "blocked" exited with code 3; output: cannot enter maintenance mode: lock held by deploy-42/,
      ['backup', 'blocked'],
    );
    assert.deepEqual(await snapshotsOf('blocked'), []);
  });

  it('after_backup runs when the backup itself fails, and learns why', async () => {
    await failsClearly(/source "failing-with-hooks" failed: access denied/, ['backup', 'failing-with-hooks']);
    const lines = (await readFile(log('failing'), 'utf8')).trim().split('\n');
    assert.equal(lines[0], 'before_backup');
    assert.match(lines[1], /^after_backup failure .*access denied/);
    assert.ok(!lines[1].includes(WRONG));
    assert.deepEqual(await snapshotsOf('failing-with-hooks'), []);
  });

  it('the server killed in the middle of a dump: the backup fails clearly and saves no snapshot', async () => {
    const child = startCli(['--config', config, 'backup', 'big-killed'], env, dir);
    const done = finished(child);
    let dumping = false;
    const deadline = Date.now() + 60_000;
    while (!dumping && Date.now() < deadline && child.exitCode === null) {
      dumping = childrenOf(child.pid!).some((c) => c.argv[0]?.endsWith('mariadb-dump'));
      await sleep(5);
    }
    assert.ok(dumping, 'the dump started');
    await sleep(300); // well into the table's rows
    assert.equal(child.exitCode, null, 'the backup was still running when the server died');
    await server.kill();
    const r = await done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /backup of source "big-killed" failed: lost the connection to lbtest@127\.0\.0\.1:\d+/,
    );
    assert.match(r.stderr, /mariadb-dump exited with code \d+/);
    assert.ok(!r.stderr.includes(server.password));
    assert.deepEqual(await snapshotsOf('big-killed'), []);
    // What the failed backup uploaded is unreferenced, never damage.
    await ok('check');
  });
});
