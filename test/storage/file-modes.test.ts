/**
 * @module test/storage/file-modes
 * Another local user tries to read a repository's key file, config and packs. The local
 * backend (through the real CLI) and the SFTP backend (against a real sshd) make folders
 * 0700 and files 0400, so the attempt, made as `nobody`, is refused; every mode on disk is
 * checked too.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SftpBackend } from '../../src/storage/sftp/sftp-backend.js';
import { type SshdServer, sshdMissing, startSshd } from '../../src/testing/servers/sshd.js';
import { lifeboat, repoEnv, tempDir } from '../helpers/cli.js';

/** Every folder and file below `root`, with its permission bits. */
async function modes(root: string): Promise<{ dirs: Map<string, number>; files: Map<string, number> }> {
  const dirs = new Map<string, number>();
  const files = new Map<string, number>();
  const walk = async (dir: string) => {
    dirs.set(dir, (await stat(dir)).mode & 0o777);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else files.set(p, (await stat(p)).mode & 0o777);
    }
  };
  await walk(root);
  return { dirs, files };
}

function assertPrivate(m: Awaited<ReturnType<typeof modes>>, root: string): void {
  for (const [d, mode] of m.dirs) {
    if (d === root) continue;
    assert.equal(mode, 0o700, `${d} is ${mode.toString(8)}`);
  }
  for (const [f, mode] of m.files) assert.equal(mode, 0o400, `${f} is ${mode.toString(8)}`);
}

/** Why another user cannot be tried here, or undefined. */
function nobodyMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to read the repository as nobody';
  const probe = spawnSync('runuser', ['-u', 'nobody', '--', 'true']);
  return probe.status === 0 ? undefined : `runuser -u nobody fails: ${probe.stderr?.toString().trim()}`;
}

/** `cat FILE` as nobody: its exit status and error. */
function readAsNobody(file: string): { status: number | null; stderr: string } {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', file]);
  return { status: r.status, stderr: r.stderr.toString() };
}

describe('storage: repository files are private', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-modes-'));
    // The folder above the repository is open to all: only the repository's own modes protect it.
    await chmod(dir, 0o755);
  });
  after(async () => cleanup());

  it('local: folders 0700, files 0400, unreadable to another user', async () => {
    const repo = join(dir, 'repo');
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'data.bin'), randomBytes(100_000));
    const env = repoEnv(repo);
    await lifeboat(['init'], env);
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], env);
    const m = await modes(repo);
    assertPrivate(m, repo);
    const key = [...m.files.keys()].find((f) => f.includes(`${join(repo, 'keys')}/`));
    assert.ok(key, 'no key file');
    const pack = [...m.files.keys()].find((f) => f.includes(`${join(repo, 'data')}/`));
    assert.ok(pack, 'no pack');

    const why = nobodyMissing();
    if (why) {
      console.log(`# skipped the read as nobody: ${why}`);
      return;
    }
    // The repository root itself may be a folder the user made open: the files still refuse.
    await chmod(repo, 0o755);
    for (const f of [key, pack, join(repo, 'config')]) {
      const r = readAsNobody(f);
      assert.notEqual(r.status, 0, `nobody read ${f}`);
      assert.match(r.stderr, /Permission denied/);
    }
  });

  const sshdSkip = sshdMissing();
  describe('sftp', { skip: sshdSkip }, () => {
    let server: SshdServer;
    before(async () => {
      server = await startSshd();
    });
    after(async () => {
      await server?.close();
    });

    it('sftp: folders 0700, files 0400, unreadable to another user', async () => {
      const root = join(server.directory, 'repo');
      const b = new SftpBackend(server.url('repo'), {
        settings: { key_file: server.userKeyFile, known_hosts: server.knownHostsFile },
        env: { HOME: '/nonexistent' },
      });
      try {
        await b.create();
        await b.save({ type: 'config', name: 'config' }, randomBytes(200));
        await b.save({ type: 'key', name: 'a1'.repeat(32) }, Buffer.from('{"secret":"wrapped key"}'));
        await b.save({ type: 'pack', name: 'b2'.repeat(32) }, randomBytes(70_000));
        // A lock is replaced in place by the next save of the same name.
        await b.save({ type: 'lock', name: 'c3'.repeat(32) }, Buffer.from('1'));
        await b.save({ type: 'lock', name: 'c3'.repeat(32) }, Buffer.from('2'));
      } finally {
        await b.close();
      }
      const m = await modes(root);
      assertPrivate(m, root);
      const why = nobodyMissing();
      if (why) {
        console.log(`# skipped the read as nobody: ${why}`);
        return;
      }
      execFileSync('chmod', ['755', root]);
      const r = readAsNobody(join(root, 'keys', 'a1'.repeat(32)));
      assert.notEqual(r.status, 0, 'nobody read the key file');
      assert.match(r.stderr, /Permission denied/);
    });
  });
});
