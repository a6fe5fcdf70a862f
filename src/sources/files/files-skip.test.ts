/**
 * What the files walk does with entries it cannot read: unreadable (as user nobody, in a
 * child process), vanished between listing and reading, a read that fails. Each is left out,
 * named in `skipped` with why, and the rest is saved; only an unreadable root fails.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { asRoot, harness, RecordingProgress, withTemp } from '../../testing/files-fixture.js';
import { MemoryContentStore } from '../../testing/memory-content-store.js';
import { compareTrees } from '../../testing/tree-compare.js';
import type { BackupResult, ContentRef } from '../source.js';
import { createFilesSource } from './files-source.js';
import { skipReason, walkError } from './files-walk.js';

type ChildOutcome = { error?: { code: string; message: string }; result?: BackupResult };

/** The backup of `path` in a child process, as user nobody when we are root (root reads everything). */
function backupAsOther(path: string): Promise<ChildOutcome> {
  const here = nodePath.dirname(fileURLToPath(import.meta.url));
  const script = `
    const { createFilesSource } = await import(${JSON.stringify(nodePath.join(here, 'files-source.js'))});
    const { MemoryContentStore } = await import(${JSON.stringify(nodePath.join(here, '../../testing/memory-content-store.js'))});
    const source = createFilesSource('t', { type: 'files', path: ${JSON.stringify(path)} });
    const progress = { start() {}, advance() {}, done() {} };
    try {
      console.log(JSON.stringify({ result: await source.backup({ store: new MemoryContentStore(), progress }) }));
    } catch (err) {
      console.log(JSON.stringify({ error: { code: err.code, message: err.message } }));
    }`;
  const ids = asRoot ? { uid: 65534, gid: 65534 } : {};
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], ids);
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

/** A store whose saveContent, the first time, runs `once` before saving. */
function storeWithHook(once: () => Promise<void>): MemoryContentStore {
  const store = new MemoryContentStore();
  const saveContent = store.saveContent.bind(store);
  let done = false;
  store.saveContent = async (stream, options): Promise<ContentRef> => {
    if (!done) {
      done = true;
      await once();
    }
    return saveContent(stream, options);
  };
  return store;
}

const backup = (store: MemoryContentStore, path: string, parentRoot?: string) =>
  createFilesSource('t', { type: 'files', path }).backup({
    store,
    progress: new RecordingProgress(),
    parentRoot,
  });

async function names(store: MemoryContentStore, root: string): Promise<string[]> {
  return (await store.loadTree(root)).nodes.map((n) => n.name);
}

describe('files backup past what it cannot read', () => {
  test('an unreadable file and folder are left out and named; an unreadable root fails', async (t) => {
    await withTemp(async (dir) => {
      await fs.chmod(dir, 0o755);
      const src = nodePath.join(dir, 'tree');
      await fs.mkdir(nodePath.join(src, 'sub'), { recursive: true, mode: 0o755 });
      await fs.writeFile(nodePath.join(src, 'a.txt'), 'readable', { mode: 0o644 });
      await fs.writeFile(nodePath.join(src, 'sub', 'b.txt'), 'readable too', { mode: 0o644 });
      await fs.writeFile(nodePath.join(src, 'sub', 'locked.txt'), 'x', { mode: 0o000 });
      await fs.mkdir(nodePath.join(src, 'closed'), { mode: 0o000 });
      let outcome: ChildOutcome;
      try {
        outcome = await backupAsOther(src);
      } catch (err) {
        t.skip(`cannot run a child as nobody: ${(err as Error).message}`);
        return;
      }
      assert.equal(outcome.error, undefined, outcome.error?.message);
      const r = outcome.result as BackupResult;
      assert.deepEqual(r.skipped, [
        { path: `${src}/closed`, error: 'permission denied' },
        { path: `${src}/sub/locked.txt`, error: 'permission denied' },
      ]);
      assert.equal(r.skippedCount, 2);
      assert.equal(r.stats.files, 2, 'a.txt and sub/b.txt are saved');
      assert.equal(r.stats.dirs, 1, 'sub is saved, closed is not');

      // Without the root there is nothing to save: that is a failure, not a partial backup.
      await fs.chmod(src, 0o000);
      const root = await backupAsOther(src);
      assert.equal(root.error?.code, 'source_unreadable');
      assert.equal(
        root.error?.message,
        `[source:files] cannot read ${src}: permission denied (grant read access to the backup user, or exclude it)`,
      );
      // A source that is one unreadable file likewise.
      await fs.chmod(src, 0o755);
      const one = await backupAsOther(nodePath.join(src, 'sub', 'locked.txt'));
      assert.equal(one.error?.code, 'source_unreadable');
      assert.match(one.error?.message ?? '', /cannot read .*\/sub\/locked\.txt: permission denied/);
    });
  });

  test('a file deleted between listing and stat is named as vanished; the rest is saved', async () => {
    await withTemp(async (dir) => {
      // Many entries, so the last one is neither stat'ed nor opened yet when the first is saved.
      const all = Array.from({ length: 100 }, (_, i) => `f${String(i).padStart(3, '0')}.txt`);
      for (const n of all) await fs.writeFile(nodePath.join(dir, n), n);
      const store = storeWithHook(() => fs.rm(nodePath.join(dir, 'f099.txt')));
      const result = await backup(store, dir);
      assert.deepEqual(await names(store, result.root), all.slice(0, 99));
      assert.deepEqual(result.skipped, [{ path: `${dir}/f099.txt`, error: 'vanished during the backup' }]);
      assert.equal(result.skippedCount, 1);
    });
  });

  test('an excluded file that vanishes is not named', async () => {
    await withTemp(async (dir) => {
      const all = Array.from({ length: 100 }, (_, i) => `f${String(i).padStart(3, '0')}.txt`);
      for (const n of all) await fs.writeFile(nodePath.join(dir, n), n);
      await fs.writeFile(nodePath.join(dir, 'z.tmp'), 'scratch');
      const store = storeWithHook(() => fs.rm(nodePath.join(dir, 'z.tmp')));
      const result = await createFilesSource('t', { type: 'files', path: dir, exclude: ['*.tmp'] }).backup({
        store,
        progress: new RecordingProgress(),
      });
      assert.equal(result.skipped, undefined);
      assert.deepEqual(await names(store, result.root), all);
    });
  });

  test('a file that vanishes between stat and read is named; the next backup reads it again', async () => {
    await withTemp(async (dir) => {
      const src = nodePath.join(dir, 'src');
      await fs.mkdir(src);
      await fs.writeFile(nodePath.join(src, 'a.txt'), 'first');
      await fs.writeFile(nodePath.join(src, 'b.txt'), 'second, which goes away for a moment');
      const store = new MemoryContentStore();
      const first = await backup(store, src);
      // The second backup asks whether b's content is still there just before opening b
      // (its metadata is unchanged): move b away then, and back after the backup. The same
      // inode, size and mtime come back.
      const hasContent = store.hasContent.bind(store);
      const away = nodePath.join(dir, 'b.away');
      let moved = false;
      store.hasContent = (chunks) => {
        if (!moved && chunks.length > 0 && store.chunks.get(chunks[0])?.toString().startsWith('second')) {
          moved = true;
          renameSync(nodePath.join(src, 'b.txt'), away);
          return false;
        }
        return hasContent(chunks);
      };
      const second = await backup(store, src, first.root);
      assert.ok(moved);
      assert.deepEqual(await names(store, second.root), ['a.txt']);
      assert.deepEqual(second.skipped, [{ path: `${src}/b.txt`, error: 'vanished during the backup' }]);
      await fs.rename(away, nodePath.join(src, 'b.txt'));

      // With the second snapshot as parent, b has no previous entry: it is read, not assumed.
      store.hasContent = hasContent;
      store.resetCounters();
      const third = await backup(store, src, second.root);
      assert.equal(third.skipped, undefined);
      assert.deepEqual(await names(store, third.root), ['a.txt', 'b.txt']);
      assert.equal(store.bytesSaved, 'second, which goes away for a moment'.length, 'b is read again');
      const out = nodePath.join(dir, 'out');
      await harness(store).restore(third, { to: out });
      assert.deepEqual(await compareTrees(src, out), []);
    });
  });

  test('a read that fails (the file became a folder) is named with the error', async () => {
    await withTemp(async (dir) => {
      await fs.writeFile(nodePath.join(dir, 'a.txt'), 'kept');
      await fs.writeFile(nodePath.join(dir, 'b.txt'), 'replaced');
      const store = new MemoryContentStore();
      const first = await backup(store, dir);
      // Between the check of b's metadata and its read, b becomes a folder: the open succeeds
      // (O_RDONLY on a folder), the read fails with EISDIR.
      const hasContent = store.hasContent.bind(store);
      store.hasContent = (chunks) => {
        if (store.chunks.get(chunks[0])?.toString() === 'replaced') {
          rmSync(nodePath.join(dir, 'b.txt'));
          mkdirSync(nodePath.join(dir, 'b.txt'));
          return false;
        }
        return hasContent(chunks);
      };
      const second = await backup(store, dir, first.root);
      assert.deepEqual(await names(store, second.root), ['a.txt']);
      assert.deepEqual(second.skipped, [
        { path: `${dir}/b.txt`, error: 'EISDIR: illegal operation on a directory, read' },
      ]);
    });
  });

  test('lists the first 100 skipped paths and counts them all', async () => {
    await withTemp(async (dir) => {
      await fs.writeFile(nodePath.join(dir, 'a.txt'), 'a');
      // Fillers keep the vanishing files beyond what the walk has stat'ed when a.txt is saved.
      for (let i = 0; i < 50; i++)
        await fs.writeFile(nodePath.join(dir, `m${String(i).padStart(2, '0')}`), 'm');
      const gone = Array.from({ length: 105 }, (_, i) => `z${String(i).padStart(3, '0')}`);
      for (const n of gone) await fs.writeFile(nodePath.join(dir, n), n);
      // Synchronously, so the walk does not move on while they go.
      const store = storeWithHook(async () => {
        for (const n of gone) rmSync(nodePath.join(dir, n));
      });
      const result = await backup(store, dir);
      assert.equal(result.skippedCount, 105);
      assert.equal(result.skipped?.length, 100);
      assert.deepEqual(
        result.skipped?.map((s) => s.path),
        gone.slice(0, 100).map((n) => `${dir}/${n}`),
      );
      assert.equal(result.stats.files, 51);
    });
  });

  test('why, in short: permission denied, vanished, or the system error without the path', () => {
    const e = (code: string, message = code) => Object.assign(new Error(message), { code });
    assert.equal(skipReason(e('EACCES')), 'permission denied');
    assert.equal(skipReason(e('EPERM')), 'permission denied');
    assert.equal(skipReason(e('ENOENT')), 'vanished during the backup');
    assert.equal(skipReason(e('EIO', "EIO: i/o error, read '/srv/x'")), 'EIO: i/o error, read');
    // Not the entry's: the store's errors, interruptions and bugs fail the backup.
    assert.equal(skipReason(walkError(e('EACCES'), '/x')), undefined);
    assert.equal(skipReason(new Error('a bug')), undefined);
  });
});
