import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { harness, RAW_NAME, rawPath, removeTree, tempDir } from '../../testing/files-fixture.js';
import { compareTrees } from '../../testing/tree-compare.js';
import type { BackupResult } from '../source.js';

describe('files restore', () => {
  const h = harness();
  let work: string;
  let src: string;
  let backup: BackupResult;
  const at = (...parts: string[]) => nodePath.join(work, ...parts);

  before(async () => {
    work = await tempDir();
    src = at('src');
    await fs.mkdir(at('src', 'docs', 'deep'), { recursive: true });
    await fs.writeFile(at('src', 'docs', 'readme.md'), 'read me');
    await fs.writeFile(at('src', 'docs', 'deep', 'x.txt'), 'x');
    await fs.writeFile(at('src', 'top.txt'), 'new top');
    await fs.writeFile(at('src', 'hard1.txt'), 'shared');
    await fs.link(at('src', 'hard1.txt'), at('src', 'docs', 'hard2.txt'));
    // A hard link whose first entry sits under a raw-byte folder name.
    await fs.mkdir(rawPath(src, RAW_NAME));
    await fs.writeFile(rawPath(src, RAW_NAME, 'first.txt'), 'under raw');
    await fs.mkdir(at('src', 'zz'));
    await fs.link(rawPath(src, RAW_NAME, 'first.txt'), at('src', 'zz', 'second.txt'));
    await fs.symlink('top.txt', at('src', 'link'));
    backup = await h.backup(src);
  });
  after(() => removeTree(work));

  test('include restores one folder in place, with a hard link whose first entry is left out', async () => {
    const dst = at('inc-dir');
    const result = await h.restore(backup, { to: dst, include: ['docs'] });
    assert.deepEqual((await fs.readdir(dst)).sort(), ['docs']);
    assert.deepEqual(await compareTrees(at('src', 'docs'), at('inc-dir', 'docs')), []);
    assert.equal(await fs.readFile(at('inc-dir', 'docs', 'hard2.txt'), 'utf8'), 'shared');
    assert.deepEqual(result.items, [
      'docs/',
      'docs/deep/',
      'docs/deep/x.txt',
      'docs/hard2.txt',
      'docs/readme.md',
    ]);
  });

  test('include finds the first entry of a hard link under a raw-byte name', async () => {
    const dst = at('inc-raw');
    await h.restore(backup, { to: dst, include: ['/zz/'] });
    assert.equal(await fs.readFile(at('inc-raw', 'zz', 'second.txt'), 'utf8'), 'under raw');
    const full = at('full');
    await h.restore(backup, { to: full });
    const [a, b] = await Promise.all([
      fs.stat(rawPath(full, RAW_NAME, 'first.txt')),
      fs.stat(at('full', 'zz', 'second.txt')),
    ]);
    assert.equal(a.ino, b.ino);
  });

  test('many files written at once each get their bytes, mode and times', async () => {
    // More files than are written at once, of several sizes (one of blobs over the seal
    // workers' threshold), modes (read-only, executable, setgid) and times.
    const many = at('many-src');
    await fs.mkdir(many);
    for (let i = 0; i < 40; i++) {
      const path = nodePath.join(many, `f${i}`);
      await fs.writeFile(path, Buffer.alloc(i === 7 ? 3 * 1024 * 1024 : 100 * i + 1, `${i}`));
      await fs.chmod(path, [0o644, 0o444, 0o755, 0o2750, 0o600][i % 5]);
      await fs.utimes(path, 1_000_000 + i, 1_500_000_000 + i * 1.25);
    }
    const saved = await h.backup(many);
    const dst = at('many-dst');
    await h.restore(saved, { to: dst });
    assert.deepEqual(await compareTrees(many, dst), []);
  });

  test('include restores one file', async () => {
    const dst = at('inc-file');
    const result = await h.restore(backup, { to: dst, include: ['/docs/deep/x.txt'] });
    assert.deepEqual(result.items, ['docs/', 'docs/deep/', 'docs/deep/x.txt']);
    assert.deepEqual(await fs.readdir(at('inc-file', 'docs', 'deep')), ['x.txt']);
    assert.deepEqual(await fs.readdir(at('inc-file', 'docs')), ['deep']);
  });

  test('an include path not in the snapshot fails before writing', async () => {
    const dst = at('inc-missing');
    await assert.rejects(h.restore(backup, { to: dst, include: ['docs', 'nope/x'] }), {
      code: 'not_found',
      message: /^\[restore\] path "nope\/x" is not in snapshot; .*--dry-run/,
    });
    await assert.rejects(h.restore(backup, { to: dst, include: ['top.txt/x'] }), { code: 'not_found' });
    await assert.rejects(fs.stat(dst), { code: 'ENOENT' });
  });

  test('refuses a non-empty target without overwrite', async () => {
    const dst = at('busy');
    await fs.mkdir(dst);
    await fs.writeFile(nodePath.join(dst, 'keep.txt'), 'mine');
    await assert.rejects(h.restore(backup, { to: dst }), {
      code: 'target_not_empty',
      message: `[restore] target ${dst} is not empty; restore into an empty or new folder, or pass --overwrite to replace files there`,
    });
    const dry = await h.restore(backup, { to: dst, dryRun: true });
    assert.match(String((dry.stats.warnings as string[])[0]), /is not empty/);
  });

  test('overwrite replaces entries, leaves extra files, and never writes through a symlink', async () => {
    const dst = at('over');
    const outside = at('outside');
    await fs.mkdir(outside);
    await fs.mkdir(dst);
    await fs.writeFile(nodePath.join(dst, 'top.txt'), 'old top, longer than the new one');
    await fs.writeFile(nodePath.join(dst, 'extra.txt'), 'extra');
    await fs.mkdir(nodePath.join(dst, 'link'));
    await fs.writeFile(nodePath.join(dst, 'link', 'in-the-way'), '');
    await fs.symlink(outside, nodePath.join(dst, 'docs'));
    await h.restore(backup, { to: dst, overwrite: true });
    assert.equal(await fs.readFile(nodePath.join(dst, 'top.txt'), 'utf8'), 'new top');
    assert.equal(await fs.readFile(nodePath.join(dst, 'extra.txt'), 'utf8'), 'extra');
    assert.equal(await fs.readlink(nodePath.join(dst, 'link')), 'top.txt');
    assert.ok((await fs.lstat(nodePath.join(dst, 'docs'))).isDirectory());
    assert.deepEqual(await fs.readdir(outside), [], 'nothing written through the old symlink');
    await fs.rm(nodePath.join(dst, 'extra.txt'));
    assert.deepEqual(await compareTrees(src, dst), [], 'no temporary files left');
    await h.restore(backup, { to: dst, overwrite: true });
    assert.deepEqual(await compareTrees(src, dst), [], 'a second overwrite is a no-op');
  });

  test('a real restore returns the first 100 paths and counts them all', async () => {
    const many = at('many');
    await fs.mkdir(many);
    for (let i = 0; i < 150; i++)
      await fs.writeFile(nodePath.join(many, `f${String(i).padStart(3, '0')}`), '');
    const result = await h.restore(await h.backup(many), { to: at('many-out') });
    assert.equal(result.items.length, 100);
    assert.equal(result.items[0], 'f000');
    assert.equal(result.stats.entries, 150);
  });
});

describe('files restore target', () => {
  test('rejects a URL and a file as target', async () => {
    const work = await tempDir();
    try {
      await fs.writeFile(nodePath.join(work, 'a'), 'a');
      const h = harness();
      const backup = await h.backup(work);
      await assert.rejects(h.restore(backup, { to: 's3://bucket/x' }), { code: 'usage' });
      await assert.rejects(h.restore(backup, { to: nodePath.join(work, 'a') }), {
        code: 'usage',
        message: /is not a directory/,
      });
      const url = new URL(`file://${nodePath.join(work, 'via-url')}`).href;
      const result = await h.restore(backup, { to: url, include: ['a'] });
      assert.equal(result.target, nodePath.join(work, 'via-url'));
    } finally {
      await removeTree(work);
    }
  });
});
