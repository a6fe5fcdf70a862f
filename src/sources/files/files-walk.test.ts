import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:net';
import * as nodePath from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MemoryContentStore } from '../../testing/memory-content-store.js';
import type { ContentRef } from '../source.js';
import { asRoot, harness, RecordingProgress, removeTree, tempDir } from './files-fixture.js';
import { createFilesSource } from './files-source.js';
import { walkError } from './files-walk.js';

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(dir);
  } finally {
    await removeTree(dir);
  }
}

/** Runs the backup of `dir` as user nobody in a child process; returns its error, if any. */
function backupAsNobody(dir: string): Promise<{ code?: string; message?: string }> {
  const here = nodePath.dirname(fileURLToPath(import.meta.url));
  const script = `
    const { createFilesSource } = await import(${JSON.stringify(nodePath.join(here, 'files-source.js'))});
    const { MemoryContentStore } = await import(${JSON.stringify(nodePath.join(here, '../../testing/memory-content-store.js'))});
    const source = createFilesSource('t', { type: 'files', path: ${JSON.stringify(dir)} });
    const progress = { start() {}, advance() {}, done() {} };
    try {
      await source.backup({ store: new MemoryContentStore(), progress });
      console.log(JSON.stringify({}));
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message }));
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534 });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`child failed: ${err}`));
      }
    });
  });
}

describe('files backup', () => {
  test('an unreadable file fails with source_unreadable', async (t) => {
    if (!asRoot) {
      await withTemp(async (dir) => {
        await fs.writeFile(nodePath.join(dir, 'locked.txt'), 'x', { mode: 0o000 });
        await assert.rejects(harness().backup(dir), {
          code: 'source_unreadable',
          message: `[source:files] cannot read ${dir}/locked.txt: permission denied (grant read access to the backup user, or exclude it)`,
        });
      });
      return;
    }
    // Root reads everything, so run the backup as nobody instead.
    await withTemp(async (dir) => {
      await fs.chmod(dir, 0o755);
      await fs.mkdir(nodePath.join(dir, 'tree'), { mode: 0o755 });
      await fs.writeFile(nodePath.join(dir, 'tree', 'locked.txt'), 'x', { mode: 0o000 });
      let result: { code?: string; message?: string };
      try {
        result = await backupAsNobody(nodePath.join(dir, 'tree'));
      } catch (err) {
        t.skip(`running as root and cannot run a child as nobody: ${(err as Error).message}`);
        return;
      }
      assert.equal(result.code, 'source_unreadable');
      assert.equal(
        result.message,
        `[source:files] cannot read ${dir}/tree/locked.txt: permission denied (grant read access to the backup user, or exclude it)`,
      );
    });
  });

  test('maps fs errors: EACCES unreadable, ENOENT vanished, others failed', () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    assert.equal(walkError(e('EACCES'), '/x')?.code, 'source_unreadable');
    assert.equal(walkError(e('ENOENT'), '/x'), undefined);
    const other = walkError(e('EIO'), '/x');
    assert.equal(other?.code, 'source_failed');
    assert.equal(other?.message, '[source:files] cannot read /x: EIO');
    assert.equal((other?.cause as Error | undefined)?.message, 'EIO');
  });

  test('a missing path fails clearly', async () => {
    await assert.rejects(harness().backup('/nonexistent/lifeboat-test'), {
      code: 'source_failed',
      message: /path \/nonexistent\/lifeboat-test does not exist/,
    });
  });

  test('a file deleted during the walk is skipped', async () => {
    await withTemp(async (dir) => {
      // Many entries, so the last one is neither stat'ed nor opened yet when the first is saved.
      const names = Array.from({ length: 100 }, (_, i) => `f${String(i).padStart(3, '0')}.txt`);
      for (const n of names) await fs.writeFile(nodePath.join(dir, n), n);
      const store = new MemoryContentStore();
      const saveContent = store.saveContent.bind(store);
      store.saveContent = async (stream): Promise<ContentRef> => {
        await fs.rm(nodePath.join(dir, 'f099.txt'), { force: true });
        return saveContent(stream);
      };
      const source = createFilesSource('t', { type: 'files', path: dir });
      const result = await source.backup({ store, progress: new RecordingProgress() });
      const root = await store.loadTree(result.root);
      assert.deepEqual(
        root.nodes.map((n) => n.name),
        names.slice(0, 99),
      );
    });
  });

  test('skips sockets with a note', async () => {
    await withTemp(async (dir) => {
      await fs.writeFile(nodePath.join(dir, 'file'), 'f');
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(nodePath.join(dir, 'app.sock'), resolve));
      try {
        const result = await harness().backup(dir);
        assert.equal(result.stats.files, 1);
        assert.deepEqual(result.meta?.skipped, ['app.sock: socket, skipped']);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  test('excludes by name at any depth, by path, and folders only with a trailing slash', async () => {
    await withTemp(async (dir) => {
      const p = (...parts: string[]) => nodePath.join(dir, 'src', ...parts);
      await fs.mkdir(p('a', '.cache'), { recursive: true });
      await fs.mkdir(p('.cache'), { recursive: true });
      await fs.mkdir(p('logs'), { recursive: true });
      await fs.mkdir(p('b', 'logs'), { recursive: true });
      await fs.mkdir(p('other'), { recursive: true });
      for (const f of [
        ['x.tmp'],
        ['a', 'y.tmp'],
        ['a', 'keep.txt'],
        ['a', '.cache', 'c'],
        ['.cache', 'c'],
        ['other', '.cache'],
        ['logs', 'a.log'],
        ['b', 'logs', 'b.log'],
      ]) {
        await fs.writeFile(p(...f), 'x');
      }
      const h = harness();
      const backup = await h.backup(p(), { exclude: ['*.tmp', '.cache/', 'logs/*.log'] });
      const result = await h.restore(backup, { to: nodePath.join(dir, 'out'), dryRun: true });
      assert.deepEqual(result.items.sort(), [
        'a/',
        'a/keep.txt',
        'b/',
        'b/logs/',
        'b/logs/b.log',
        'logs/',
        'other/',
        'other/.cache',
      ]);
    });
  });

  test('reports bytes read as progress', async () => {
    await withTemp(async (dir) => {
      await fs.writeFile(nodePath.join(dir, 'a'), Buffer.alloc(3 * 1024 * 1024, 1));
      const store = new MemoryContentStore();
      const progress = new RecordingProgress();
      const source = createFilesSource('t', { type: 'files', path: dir });
      const result = await source.backup({ store, progress });
      assert.equal(progress.advanced, 3 * 1024 * 1024);
      assert.equal(result.stats.bytes, 3 * 1024 * 1024);
    });
  });

  test('stops when aborted', async () => {
    await withTemp(async (dir) => {
      await fs.writeFile(nodePath.join(dir, 'a'), 'a');
      const controller = new AbortController();
      controller.abort();
      const source = createFilesSource('t', { type: 'files', path: dir });
      await assert.rejects(
        source.backup({
          store: new MemoryContentStore(),
          progress: new RecordingProgress(),
          signal: controller.signal,
        }),
        { code: 'interrupted' },
      );
    });
  });
});
