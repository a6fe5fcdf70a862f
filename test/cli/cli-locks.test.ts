/**
 * @module test/cli/cli-locks
 * Repository locks through the real CLI: `unlock` (nothing to do, a live lock kept unless
 * --force, a dead process's lock removed), and a backup stopped by SIGTERM, which must
 * release its lock and commit nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Repository } from '../../src/repo/repository.js';
import { openBackend } from '../../src/storage/registry.js';
import { BIN, repoEnv, tempDir } from '../helpers/cli.js';
import { CliSession } from '../helpers/cli-session.js';

const PASSWORD = 'pw-locks-Nc7@violet-marmot';

const session = new CliSession({ password: PASSWORD });
const { ok, fails, ids } = session;

describe('lifeboat unlock and interrupted commands', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-locks-'));
    session.workDir = dir;
    repo = join(dir, 'repo');
    env = repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD });
    await ok(['init'], env);
    const small = join(dir, 'src', 'small');
    await mkdir(small, { recursive: true });
    await writeFile(join(small, 'a.txt'), 'a\n');
    await ok(['backup', '--type', 'files', '--name', 'small', '--path', small], env);
  });
  after(() => cleanup());

  describe('unlock', () => {
    it('with no locks, removes none (with or without --force)', async () => {
      assert.match((await ok(['unlock'], env)).stdout, /^0 locks removed$/m);
      assert.match((await ok(['unlock', '--force'], env)).stdout, /^0 locks removed$/m);
    });

    it('keeps a live lock unless --force; prune waits for it with a clear message', async () => {
      const held = await Repository.open(await openBackend(repo), PASSWORD);
      const lock = await held.lock(false, 'test backup');
      try {
        const r = await ok(['unlock'], env);
        assert.match(r.stdout, new RegExp(`^kept live lock: .*test backup pid ${process.pid}.*--force`, 'm'));
        assert.match(r.stdout, /^0 locks removed$/m);
        // A shared lock lets other readers in, but not prune.
        await ok(['snapshots'], env);
        const p = await fails(['prune'], env, 1, /locked by test backup/);
        assert.match(p.stderr, /lifeboat unlock/);

        const forced = await ok(['unlock', '--force'], env);
        assert.match(forced.stdout, /^removed alive lock: .*test backup/m);
        assert.match(forced.stdout, /^1 lock removed$/m);
        await ok(['prune'], env);
      } finally {
        await lock.release().catch(() => {});
      }
    });

    it('removes the lock of a process that is gone without --force', async () => {
      // A process takes a lock and dies without releasing it.
      const url = (p: string) => pathToFileURL(join(import.meta.dirname, p)).href;
      const script = [
        `import { Repository } from '${url('../../src/repo/repository.js')}';`,
        `import { openBackend } from '${url('../../src/storage/registry.js')}';`,
        'const repo = await Repository.open(await openBackend(process.env.LIFEBOAT_REPO), process.env.LIFEBOAT_PASSWORD);',
        "await repo.lock(false, 'doomed backup');",
        'process.exit(0);',
      ].join('\n');
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env,
          stdio: 'inherit',
        });
        child.on('close', resolve);
      });
      assert.equal(code, 0);
      assert.equal((await readdir(join(repo, 'locks'))).length, 1);
      const r = await ok(['unlock'], env);
      assert.match(r.stdout, /^removed dead lock: .*doomed backup/m);
      assert.match(r.stdout, /^1 lock removed$/m);
      assert.deepEqual(await readdir(join(repo, 'locks')), []);
    });
  });

  describe('an interrupted backup', () => {
    let big: string;
    const locks = () => join(repo, 'locks');
    const packCount = async () => {
      let n = 0;
      for (const sub of await readdir(join(repo, 'data'))) {
        n += (await readdir(join(repo, 'data', sub))).filter((f) => !f.startsWith('.')).length;
      }
      return n;
    };

    /** Starts a backup of `big` and sends SIGTERM once `ready` resolves; returns its outcome. */
    async function interrupt(ready: () => Promise<void>): Promise<{ code: number | null; stderr: string }> {
      const args = ['backup', '--type', 'files', '--name', 'big', '--path', big];
      const child = spawn(process.execPath, [BIN, ...args], {
        env,
        cwd: session.workDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      await ready();
      child.kill('SIGTERM'); // the way a service manager stops it
      const code = await closed;
      session.record(args, { code, signal: null, stdout: '', stderr });
      return { code, stderr };
    }

    before(async () => {
      big = join(dir, 'src', 'big');
      await mkdir(big, { recursive: true });
      for (let i = 0; i < 8; i++) await writeFile(join(big, `part-${i}.bin`), randomBytes(8 * 1024 * 1024));
    });

    it('stopped mid-backup: releases its lock, commits nothing; the next backup and check are clean', async () => {
      const before = await ids(env);
      const r = await interrupt(async () => {
        for (let i = 0; i < 500 && (await readdir(locks())).length === 0; i++)
          await new Promise((res) => setTimeout(res, 10));
        assert.equal((await readdir(locks())).length, 1, 'the backup took a lock');
        // Well into the data, but not done: the first pack of several has been written.
        for (let i = 0; i < 1000 && (await packCount()) === 0; i++)
          await new Promise((res) => setTimeout(res, 5));
      });
      assert.equal(r.code, 143, r.stderr);
      assert.match(r.stderr, /interrupted by SIGTERM; nothing was committed/);
      assert.deepEqual(await readdir(locks()), [], 'no lock left behind');
      assert.deepEqual(await ids(env), before, 'no snapshot committed');

      await ok(['backup', '--type', 'files', '--name', 'big', '--path', big], env);
      const report: { ok: boolean; errors: string[] } = JSON.parse(
        (await ok(['check', '--read-data', '--json'], env)).stdout,
      );
      assert.equal(report.ok, true, report.errors.join('\n'));
      const to = join(dir, 'big-restored');
      await ok(['restore', 'latest', '--source', 'big', '--to', to], env);
      assert.ok((await readFile(join(to, 'part-3.bin'))).equals(await readFile(join(big, 'part-3.bin'))));
    });

    it('stopped just as it takes its lock: releases the lock too', async () => {
      let failures = 0;
      for (let attempt = 0; attempt < 3; attempt++) {
        const r = await interrupt(
          () =>
            new Promise<void>((resolve) => {
              // The moment the lock file appears, while the backup is still checking for conflicts.
              const watcher = watch(locks(), () => {
                watcher.close();
                resolve();
              });
            }),
        );
        assert.equal(r.code, 143, r.stderr);
        const left = await readdir(locks());
        if (left.length > 0) {
          failures++;
          await ok(['unlock'], env); // the process is gone: its lock is dead
        }
      }
      assert.equal(failures, 0, `a lock was left behind in ${failures} of 3 interrupted backups`);
    });
  });

  it('no output shows the password, and no error a stack trace', () => {
    session.assertNoLeaks(10);
  });
});
