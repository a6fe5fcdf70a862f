import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { test } from 'node:test';
import {
  harness,
  makeRichTree,
  RecordingProgress,
  removeTree,
  tempDir,
} from '../../testing/files-fixture.js';
import { MemoryContentStore } from '../../testing/memory-content-store.js';
import { compareTrees } from '../../testing/tree-compare.js';
import { createFilesSource } from './files-source.js';

test('a backup with a parent reads only changed files', async () => {
  const work = await tempDir();
  try {
    const src = nodePath.join(work, 'src');
    await fs.mkdir(src);
    await makeRichTree(src);
    const store = new MemoryContentStore();
    const h = harness(store);
    const first = await h.backup(src);
    assert.ok(store.bytesSaved > 0);

    store.resetCounters();
    const progress = new RecordingProgress();
    const source = createFilesSource('t', { type: 'files', path: src });
    const second = await source.backup({ store, progress, parentRoot: first.root });
    assert.equal(store.bytesSaved, 0, 'unchanged files are not read');
    assert.equal(progress.advanced, second.stats.bytes, 'reused bytes count as progress');
    assert.deepEqual(second.stats, first.stats);

    // Same size, new content and mtime: must be read again.
    const big = nodePath.join(src, 'big.bin');
    const before = await fs.stat(big);
    await fs.writeFile(big, Buffer.alloc(before.size, 0x42));
    await fs.utimes(big, before.atime, new Date(before.mtimeMs + 5000));
    store.resetCounters();
    const third = await h.backup(src, { parentRoot: second.root });
    assert.equal(store.bytesSaved, before.size, 'only the modified file is read');

    const dst = nodePath.join(work, 'out');
    await h.restore(third, { to: dst });
    assert.deepEqual(await compareTrees(src, dst), []);
  } finally {
    await removeTree(work);
  }
});

test('a parent whose content is gone is not reused', async () => {
  const work = await tempDir();
  try {
    await fs.writeFile(nodePath.join(work, 'a'), 'content');
    const old = harness();
    const first = await old.backup(work);
    // Same trees, but the chunks are gone (say, pruned): the file must be read again.
    const fresh = new MemoryContentStore();
    for (const [id, json] of old.store.trees) fresh.trees.set(id, json);
    await harness(fresh).backup(work, { parentRoot: first.root });
    assert.equal(fresh.bytesSaved, 7);
  } finally {
    await removeTree(work);
  }
});

test("a backup's reads leave files' access times alone: the next backup stores the same trees", async () => {
  const work = await tempDir();
  try {
    const src = nodePath.join(work, 'src');
    await fs.mkdir(nodePath.join(src, 'sub'), { recursive: true });
    const files = [nodePath.join(src, 'a.txt'), nodePath.join(src, 'sub', 'b.bin')];
    for (const f of files) {
      await fs.writeFile(f, Buffer.alloc(10_000, 0x61));
      // An access time before the change time: under relatime any read would move it.
      const st = await fs.stat(f);
      await fs.utimes(f, new Date(st.mtimeMs - 3_600_000), st.mtime);
    }
    // Listing a folder moves its access time as reading moves a file's (relatime); folders
    // are listed on every backup, so theirs are set ahead here to leave only the files' reads.
    for (const d of [nodePath.join(src, 'sub'), src]) {
      const st = await fs.stat(d);
      await fs.utimes(d, new Date(Date.now() + 3_600_000), st.mtime);
    }
    const atimes = await Promise.all(files.map(async (f) => (await fs.stat(f, { bigint: true })).atimeNs));
    const store = new MemoryContentStore();
    const h = harness(store);
    const first = await h.backup(src);
    assert.ok(store.bytesSaved >= 20_000, 'the files were read');
    assert.deepEqual(
      await Promise.all(files.map(async (f) => (await fs.stat(f, { bigint: true })).atimeNs)),
      atimes,
    );
    const second = await h.backup(src, { parentRoot: first.root });
    assert.equal(second.root, first.root, 'the same trees');
  } finally {
    await removeTree(work);
  }
});
