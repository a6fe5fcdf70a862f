/**
 * @module test/command/command-cli
 * The command engine through the real CLI, with real processes: tens of MiB printed by a
 * command round-trip byte for byte (restore --to, dump, and restore_command on stdin), a
 * second run adds next to nothing, a failing command or restore_command is reported with its
 * exit code and stderr and leaves no snapshot (the other sources are still saved), a timeout
 * kills a whole pipeline, env secrets appear nowhere, and memory stays bounded on 512 MiB.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';

const SECRET = `tok-${randomBytes(12).toString('hex')}`;
const MiB = 1024 * 1024;

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The fields of `snapshots --json` these tests read. */
interface ListedSnapshot {
  id: string;
  parent?: string;
  engine: string;
  stats: { bytes: number; sha256: string };
  meta: { artifact: string; envNames?: string[] };
  sourceConfig: Record<string, unknown>;
  backup: { bytesAdded: number };
}

describe('command engine through the CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  let data: string;
  /** Every output of every CLI run, searched for the secret at the end. */
  const outputs: string[] = [];

  async function run(args: string[]): Promise<CliResult> {
    const r = await runCli(['--config', config, ...args], env, { cwd: dir });
    outputs.push(r.stdout, r.stderr);
    return r;
  }
  async function succeed(args: string[]): Promise<CliResult> {
    const r = await run(args);
    assert.equal(r.code, 0, show(args, r));
    return r;
  }
  /** Oldest first. */
  async function snapshotsOf(source: string): Promise<ListedSnapshot[]> {
    return JSON.parse((await succeed(['snapshots', '--json', '--source', source])).stdout);
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-command-cli-'));
    env = repoEnv(join(dir, 'repo'), { CMD_TEST_TOKEN: SECRET });
    data = join(dir, 'data.bin');
    await writeFile(data, randomBytes(24 * MiB));
    const token = join(dir, 'token.txt');
    await writeFile(token, SECRET);
    config = join(dir, 'lifeboat.yaml');
    // The command checks that the secret reached it through env before printing the data.
    await writeFile(
      config,
      `sources:
  blob:
    type: command
    command: ["sh", "-c", "test \\"$API_TOKEN\\" = \\"$(cat '${token}')\\" && cat '${data}'"]
    env: { API_TOKEN: "\${CMD_TEST_TOKEN}" }
    artifact: blob.bin
    restore_command: "cat > '${join(dir, 'fed.bin')}'"
  broken:
    type: command
    command: "head -c 100000 /dev/zero; echo \\"first line\\" >&2; echo \\"token $API_TOKEN rejected\\" >&2; exit 7"
    env: { API_TOKEN: "\${CMD_TEST_TOKEN}" }
  bad-restore:
    type: command
    command: ["echo", "hello"]
    restore_command: "cat >/dev/null; echo 'apply failed: quota exceeded' >&2; exit 5"
  slow:
    type: command
    command: "sleep 60 | cat"
    timeout: 1s
`,
    );
    await succeed(['init']);
  });
  after(async () => {
    await cleanup?.();
  });

  it('backs up what a command prints, and gives it back byte for byte', async () => {
    const r = await succeed(['backup', 'blob']);
    assert.match(r.stdout, /saved: blob \(command\), 24\.0 MiB read/);
    const [snap] = await snapshotsOf('blob');
    assert.equal(snap.engine, 'command');
    assert.equal(snap.stats.bytes, 24 * MiB);
    assert.equal(snap.stats.sha256, await sha256Of(data));
    assert.equal(snap.meta.artifact, 'blob.bin');
    assert.deepEqual(snap.meta.envNames, ['API_TOKEN']);
    // Recorded without env and without the restore command (a snapshot never says what to run).
    assert.equal(snap.sourceConfig.env, undefined);
    assert.equal(snap.sourceConfig.restore_command, undefined);

    const out = join(dir, 'restored.bin');
    await succeed(['restore', 'latest', '--source', 'blob', '--to', out]);
    assert.equal(await sha256Of(out), snap.stats.sha256);
    // An existing file is kept unless --overwrite.
    const again = await run(['restore', 'latest', '--source', 'blob', '--to', out]);
    assert.equal(again.code, 1, show(['restore'], again));
    assert.match(again.stderr, /exists and is not empty \(pass --overwrite/);
    // A folder receives the artifact by its name.
    await mkdir(join(dir, 'into'));
    await succeed(['restore', 'latest', '--source', 'blob', '--to', join(dir, 'into')]);
    assert.equal(await sha256Of(join(dir, 'into', 'blob.bin')), snap.stats.sha256);

    const dumped = join(dir, 'dumped.bin');
    await succeed(['dump', 'latest', '--source', 'blob', '--output', dumped]);
    assert.equal(await sha256Of(dumped), snap.stats.sha256);
  });

  it('adds next to nothing when the output is the same', async () => {
    await succeed(['backup', 'blob']);
    const [previous, latest] = (await snapshotsOf('blob')).slice(-2);
    assert.equal(latest.parent, previous.id);
    assert.equal(latest.stats.sha256, previous.stats.sha256);
    assert.ok(latest.backup.bytesAdded < 16 * 1024, `added ${latest.backup.bytesAdded} bytes`);
  });

  it('feeds the artifact to restore_command on stdin; --dry-run only says so', async () => {
    const fed = join(dir, 'fed.bin');
    const dry = await succeed(['restore', 'latest', '--source', 'blob', '--dry-run']);
    assert.match(dry.stdout, /restore_command `cat > /);
    assert.match(dry.stdout, /blob\.bin \(25165824 bytes\) on the standard input of cat >/);
    await assert.rejects(stat(fed), /ENOENT/);

    await succeed(['restore', 'latest', '--source', 'blob']);
    assert.equal(await sha256Of(fed), await sha256Of(data));
  });

  it('drills into a temporary folder, never through restore_command', async () => {
    const fed = join(dir, 'fed.bin');
    const before = (await stat(fed)).mtimeMs;
    const r = await succeed(['drill', 'blob', '--json']);
    const report = JSON.parse(r.stdout);
    assert.equal(report.passed, true, r.stdout);
    assert.equal(report.scratch, 'temporary folder');
    assert.deepEqual(
      report.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
      [['artifact sha256', true]],
    );
    assert.equal((await stat(fed)).mtimeMs, before);
  });

  it('reports a failing restore_command with its exit code and stderr', async () => {
    await succeed(['backup', 'bad-restore']);
    const r = await run(['restore', 'latest', '--source', 'bad-restore']);
    assert.equal(r.code, 1, show(['restore'], r));
    assert.match(
      r.stderr,
      /\[source:command\] source "bad-restore": command `.*` exited with code 5: apply failed: quota exceeded/,
    );
  });

  it('fails a command that exits non-zero, with no snapshot; the other sources are saved', async () => {
    const r = await run(['backup', 'broken', 'bad-restore']);
    assert.equal(r.code, 3, show(['backup'], r));
    assert.match(
      r.stderr,
      /source "broken": command `.*` exited with code 7: first line\ntoken \*\*\* rejected/,
    );
    assert.match(r.stdout, /saved: bad-restore \(command\)/);
    assert.deepEqual(await snapshotsOf('broken'), []);
  });

  it('kills a command (a whole pipeline) that runs past its timeout', async () => {
    const started = Date.now();
    const r = await run(['backup', 'slow']);
    assert.equal(r.code, 1, show(['backup'], r));
    assert.match(
      r.stderr,
      /source "slow": command `sleep 60 \| cat` did not finish within 1s and was killed/,
    );
    assert.ok(Date.now() - started < 20_000, 'the pipeline was killed, not waited for');
    assert.deepEqual(await snapshotsOf('slow'), []);
  });

  it('restores a snapshot without a restore_command only to a file', async () => {
    const args = ['backup', '--type', 'command', '--name', 'adhoc', '--command', `cat '${data}'`];
    await succeed(args);
    const r = await run(['restore', 'latest', '--source', 'adhoc']);
    assert.equal(r.code, 2, show(['restore'], r));
    assert.match(r.stderr, /source "adhoc" has no restore_command \(pass --to FILE/);
    await succeed(['restore', 'latest', '--source', 'adhoc', '--to', join(dir, 'adhoc.out')]);
    assert.equal(await sha256Of(join(dir, 'adhoc.out')), await sha256Of(data));
  });

  it('names the flags on the command line', async () => {
    const r1 = await run(['backup', '--type', 'command', '--name', 'x']);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /--type command needs --command/);
    const r2 = await run(['backup', '--type', 'files', '--name', 'x', '--path', dir, '--command', 'ls']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /--command does not apply to --type files/);
  });

  it('keeps the env secret out of every output, the snapshots and the repository files', async () => {
    outputs.push(JSON.stringify(await snapshotsOf('blob')), JSON.stringify(await snapshotsOf('broken')));
    for (const text of outputs) assert.ok(!text.includes(SECRET), `secret in: ${text.slice(0, 500)}`);
    for (const file of await filesUnder(join(dir, 'repo'))) {
      // (the repository is encrypted anyway; this would catch a plaintext leak)
      assert.ok(!(await readFile(file)).includes(SECRET), `secret in ${file}`);
    }
  });

  it('keeps memory bounded on a 512 MiB stream', async () => {
    const stream = 512 * MiB;
    const rss = join(dir, 'rss.txt');
    const args = [
      'backup',
      '--type',
      'command',
      '--name',
      'big',
      '--command',
      `head -c ${stream} /dev/urandom`,
    ];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-o', rss, '-f', '%M', process.execPath, BIN, ...args], {
        env,
        stdio: 'ignore',
      });
      child.on('error', reject);
      child.on('close', resolve);
    });
    assert.equal(code, 0);
    const maxKiB = Number((await readFile(rss, 'utf8')).trim().split('\n').pop());
    const [snap] = JSON.parse((await runCli(['snapshots', '--json', '--source', 'big'], env)).stdout);
    assert.equal(snap.stats.bytes, stream);
    assert.ok(maxKiB * 1024 < stream * 0.6, `max RSS ${maxKiB} KiB for a ${stream / MiB} MiB stream`);
  });
});
