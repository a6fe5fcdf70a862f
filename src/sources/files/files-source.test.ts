import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  asRoot,
  harness,
  makeRichTree,
  RAW_NAME,
  RecordingProgress,
  rawPath,
  removeTree,
  SPARSE_OFFSET,
  tempDir,
} from '../../testing/files-fixture.js';
import { compareTrees } from '../../testing/tree-compare.js';
import type { BackupResult, TreeNode } from '../source.js';
import { filesSourceSchema } from './files-schema.js';
import { createFilesSource } from './files-source.js';

describe('files source round trip', () => {
  const h = harness();
  let work: string;
  let src: string;
  let backup: BackupResult;
  let device = false;

  before(async () => {
    work = await tempDir();
    src = nodePath.join(work, 'src');
    await fs.mkdir(src);
    ({ device } = await makeRichTree(src));
    backup = await h.backup(src);
  });
  after(() => removeTree(work));

  test('records stats and the source path', () => {
    // a, empty, big, setuid, private, deep, hard1, hard2, ro, raw, 3 unicode, sparse
    assert.equal(backup.stats.files, 14);
    assert.equal(backup.stats.dirs, 5);
    assert.equal(backup.stats.symlinks, 3);
    const sizes = 6 + 300 * 1024 + 10 + 6 + 9 + 14 + 9 + 8 + 5 + 10 + 8 + SPARSE_OFFSET + 3;
    assert.equal(backup.stats.bytes, sizes, 'hard-linked content counts once');
    assert.equal(backup.meta?.path, src);
  });

  test('keeps names and times exactly in the tree', async () => {
    const root = await h.store.loadTree(backup.root);
    const raw = root.nodes.find((n) => n.nameRaw === RAW_NAME.toString('base64'));
    assert.ok(raw, 'raw-byte name kept as base64');
    assert.equal(raw.name, 'f\ufffdo');
    const target = root.nodes.find((n) => n.name === 'raw-target');
    assert.equal(target?.targetRaw, Buffer.from([0x74, 0xfe, 0x78]).toString('base64'));
    const a = root.nodes.find((n) => n.name === 'a.txt') as TreeNode;
    const st = await fs.stat(nodePath.join(src, 'a.txt'), { bigint: true });
    assert.equal(a.mtimeNs, st.mtimeNs.toString());
    assert.equal(a.mode, Number(st.mode) & 0o7777);
    const names = root.nodes.map((n) => (n.nameRaw ? Buffer.from(n.nameRaw, 'base64') : Buffer.from(n.name)));
    assert.deepEqual([...names].sort(Buffer.compare), names, 'nodes sorted by name bytes');
    const hard2 = (
      await h.store.loadTree(root.nodes.find((n) => n.name === 'sub')?.subtree as string)
    ).nodes.find((n) => n.name === 'hard2.txt');
    assert.equal(hard2?.hardlinkTo, 'hard1.txt');
    assert.equal(hard2?.content, undefined);
  });

  test('restores every entry with its data and metadata', async (t) => {
    const dst = nodePath.join(work, 'restored');
    const progress = new RecordingProgress();
    const source = createFilesSource('test', { type: 'files', path: src });
    const result = await source.restore(
      { store: h.store, progress, root: backup.root, stats: backup.stats, meta: backup.meta ?? {} },
      { to: dst, overwrite: false, dryRun: false },
    );
    assert.equal(result.target, dst);
    assert.deepEqual(await compareTrees(src, dst, { root: true }), []);
    assert.equal(result.stats.files, backup.stats.files);
    assert.equal(result.stats.bytes, backup.stats.bytes);
    assert.deepEqual(progress.phases, [{ label: 'restore', total: backup.stats.bytes }]);
    assert.equal(progress.advanced, backup.stats.bytes);
    assert.equal(progress.finished, 1);

    const [h1, h2] = await Promise.all([
      fs.stat(nodePath.join(dst, 'hard1.txt')),
      fs.stat(nodePath.join(dst, 'sub', 'hard2.txt')),
    ]);
    assert.equal(h1.ino, h2.ino, 'hard link restored as a link');
    const sparse = await fs.stat(nodePath.join(dst, 'sparse.bin'));
    assert.equal(sparse.size, SPARSE_OFFSET + 3);
    assert.ok(sparse.blocks * 512 < 1024 * 1024, `sparse file restored with holes (${sparse.blocks} blocks)`);
    assert.equal(await fs.readlink(nodePath.join(dst, 'dangling')), 'nowhere/missing');
    assert.equal(await fs.readFile(rawPath(dst, RAW_NAME), 'utf8'), 'raw name');
    assert.ok((await fs.lstat(nodePath.join(dst, 'fifo'))).isFIFO());
    if (asRoot) {
      const owned = await fs.stat(nodePath.join(dst, 'private.txt'));
      assert.deepEqual([owned.uid, owned.gid], [1234, 5678]);
    }
    if (device) assert.ok((await fs.lstat(nodePath.join(dst, 'null-device'))).isCharacterDevice());
    else t.diagnostic('no device node in the fixture: mknod is not permitted here');
  });

  test('restores to the original path when no target is given', async () => {
    const original = nodePath.join(work, 'original');
    const result = await h.restore(backup, {}, original);
    assert.equal(result.target, original);
    assert.deepEqual(await compareTrees(src, original), []);
    assert.equal(result.items.length, result.stats.entries);
  });

  test('dry run lists every path and writes nothing', async () => {
    const dst = nodePath.join(work, 'dry');
    const result = await h.restore(backup, { to: dst, dryRun: true });
    await assert.rejects(fs.stat(dst), { code: 'ENOENT' });
    assert.ok(result.items.includes('sub/'));
    assert.ok(result.items.includes('sub/nested/deep.txt'));
    assert.ok(result.items.includes('f\ufffdo'));
    assert.equal(result.items.length, result.stats.entries);
  });
});

describe('files source with a single file', () => {
  test('backs up and restores one file', async () => {
    const work = await tempDir();
    try {
      const file = nodePath.join(work, 'db.sqlite');
      await fs.writeFile(file, 'one file');
      const h = harness();
      const backup = await h.backup(file);
      assert.equal(backup.stats.files, 1);
      const root = await h.store.loadTree(backup.root);
      assert.deepEqual(
        root.nodes.map((n) => n.name),
        ['db.sqlite'],
      );
      const dst = nodePath.join(work, 'out');
      const result = await h.restore(backup, { to: dst });
      assert.equal(await fs.readFile(nodePath.join(dst, 'db.sqlite'), 'utf8'), 'one file');
      assert.deepEqual(result.items, ['db.sqlite']);
      await fs.rm(file);
      await h.restore(backup, { overwrite: true }, file);
      assert.equal(await fs.readFile(file, 'utf8'), 'one file', 'original location is the file itself');
      const link = nodePath.join(work, 'current.db');
      await fs.symlink(file, link);
      const viaLink = await h.store.loadTree((await h.backup(link)).root);
      assert.deepEqual(
        viaLink.nodes.map((n) => [n.name, n.type, n.size]),
        [['current.db', 'file', 8]],
        'a configured symlink to a file backs up the file',
      );
    } finally {
      await removeTree(work);
    }
  });
});

describe('files source config', () => {
  test('accepts path, exclude and the shared keys', () => {
    const parsed = filesSourceSchema.parse({
      type: 'files',
      path: '/srv/uploads',
      exclude: ['*.tmp'],
      schedule: '0 3 * * *',
      hooks: { before_backup: 'true' },
    });
    assert.equal(parsed.path, '/srv/uploads');
    assert.equal((parsed as Record<string, unknown>).schedule, '0 3 * * *');
  });

  test('rejects a relative path', () => {
    const result = filesSourceSchema.safeParse({ type: 'files', path: 'uploads' });
    assert.equal(result.success, false);
    assert.match(JSON.stringify(result.error?.issues), /absolute path/);
  });

  test('names the source type and kind', () => {
    const source = createFilesSource('uploads', { type: 'files', path: '/srv/uploads' });
    assert.deepEqual([source.name, source.type, source.kind], ['uploads', 'files', 'files']);
  });
});
