import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:net';
import * as nodePath from 'node:path';
import { describe, test } from 'node:test';
import { harness, RecordingProgress, withTemp } from '../../testing/files-fixture.js';
import { MemoryContentStore } from '../../testing/memory-content-store.js';
import { createFilesSource } from './files-source.js';
import { walkError } from './files-walk.js';

describe('files backup', () => {
  // What fails the backup (the root, or an error that is not the entry's); entries are
  // skipped instead (files-skip.test).
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
