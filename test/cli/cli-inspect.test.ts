/**
 * @module test/cli/cli-inspect
 * ls, find, diff, stats and tag through the real CLI on real repositories: a files source
 * with a known tree backed up twice (changes between the two exact), a SQLite dump for the
 * dump paths, a damaged tree (exit 3 naming it) and a write-only key (forbidden).
 */
import assert from 'node:assert/strict';
import { mkdir, open, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { repoEnv, tempDir } from '../helpers/cli.js';
import { CliSession } from '../helpers/cli-session.js';
import { withRepository } from '../helpers/repo-blobs.js';
import { flipByte, repoFiles } from '../helpers/repo-files.js';

const PASSWORD = 'pw-inspect-Lm7!harbor-otter';
const session = new CliSession({ password: PASSWORD });
const { ok, fails } = session;

interface Listed {
  path: string;
  type: string;
  size: number | null;
  mode: number | null;
}

describe('lifeboat ls, find, diff, stats, tag', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let repo: string;
  let data: string;
  let first: string;
  let second: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-inspect-'));
    session.workDir = dir;
    repo = join(dir, 'repo');
    data = join(dir, 'data');
    env = repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD });
    await mkdir(join(data, 'docs', 'old'), { recursive: true });
    await writeFile(join(data, 'readme.md'), '# hello\n');
    await writeFile(join(data, 'docs', 'guide.txt'), 'guide\n'.repeat(1000));
    await writeFile(join(data, 'docs', 'old', 'a.txt'), 'aaa\n');
    await writeFile(join(data, 'docs', 'old', 'b.txt'), 'bbbbbb\n');
    await symlink('readme.md', join(data, 'link'));
    await ok(['init'], env);
    await ok(['backup', '--type', 'files', '--name', 'site', '--path', data], env);
    // Changed: readme.md grows, docs/old goes away, two files arrive, guide.txt stays.
    await writeFile(join(data, 'readme.md'), '# hello again\n');
    await rm(join(data, 'docs', 'old'), { recursive: true });
    await mkdir(join(data, 'new'));
    await writeFile(join(data, 'new', 'c.txt'), 'c\n');
    await writeFile(join(data, 'z.txt'), 'zz\n');
    await ok(['backup', '--type', 'files', '--name', 'site', '--path', data], env);
    [first, second] = await session.ids(env);
  });
  after(() => cleanup());

  it('ls lists every entry with its type and size; --long like ls -l; a folder below', async () => {
    const listing = JSON.parse((await ok(['ls', first, '--json'], env)).stdout);
    assert.equal(listing.id, first);
    assert.equal(listing.kind, 'files');
    assert.deepEqual(listing.stats, { files: 4, dirs: 2, symlinks: 1, bytes: 6019 });
    const list: Listed[] = listing.entries;
    assert.deepEqual(
      list.map((e) => [e.path, e.type, e.size]),
      [
        ['docs', 'dir', null],
        ['docs/guide.txt', 'file', 6000],
        ['docs/old', 'dir', null],
        ['docs/old/a.txt', 'file', 4],
        ['docs/old/b.txt', 'file', 7],
        ['link', 'symlink', null],
        ['readme.md', 'file', 8],
      ],
    );
    const mode = (await stat(join(data, 'docs', 'guide.txt'))).mode & 0o7777;
    assert.equal(list[1].mode, mode);
    const long = (await ok(['ls', first, '--long'], env)).stdout;
    assert.match(long, /^-rw-r--r-- +\d+ +\d+ +6000 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +docs\/guide\.txt$/m);
    assert.match(long, /^drwx.* docs\/old$/m);
    assert.match(long, /^l.* link -> readme\.md$/m);
    const below: Listed[] = JSON.parse((await ok(['ls', first, 'docs/old', '--json'], env)).stdout).entries;
    assert.deepEqual(
      below.map((e) => e.path),
      ['docs/old/a.txt', 'docs/old/b.txt'],
    );
    const plain = (await ok(['ls', second], env)).stdout;
    assert.match(plain, /^new\/$/m);
    assert.match(plain, /^z\.txt$/m);
    await fails(['ls', second, 'docs/old'], env, 1, /no folder docs\/old in snapshot/);
  });

  it('find matches base names and full paths across snapshots', async () => {
    const hits: { id: string; path: string; size: number }[] = JSON.parse(
      (await ok(['find', '*.txt', '--json'], env)).stdout,
    );
    assert.deepEqual(
      hits.map((h) => [h.id, h.path, h.size]),
      [
        [first, 'docs/guide.txt', 6000],
        [first, 'docs/old/a.txt', 4],
        [first, 'docs/old/b.txt', 7],
        [second, 'docs/guide.txt', 6000],
        [second, 'new/c.txt', 2],
        [second, 'z.txt', 3],
      ],
    );
    const byPath: { path: string }[] = JSON.parse((await ok(['find', 'docs/old/*', '--json'], env)).stdout);
    assert.deepEqual(
      byPath.map((h) => h.path),
      ['docs/old/a.txt', 'docs/old/b.txt'],
    );
    const text = (await ok(['find', 'readme.md'], env)).stdout;
    assert.match(text, new RegExp(`^${second.slice(0, 8)} +site +.* readme\\.md$`, 'm'));
    assert.match(text, /^2 matches in 2 snapshots$/m);
    assert.deepEqual(JSON.parse((await ok(['find', 'nothing-*', '--json'], env)).stdout), []);
  });

  it('diff names exactly what was added, removed and changed, with sizes', async () => {
    const d = JSON.parse((await ok(['diff', first, second, '--json'], env)).stdout);
    assert.equal(d.a, first);
    assert.equal(d.b, second);
    assert.deepEqual(d.changes, [
      { kind: 'removed', path: 'docs/old', type: 'dir' },
      { kind: 'removed', path: 'docs/old/a.txt', type: 'file', before: 4 },
      { kind: 'removed', path: 'docs/old/b.txt', type: 'file', before: 7 },
      { kind: 'added', path: 'new', type: 'dir' },
      { kind: 'added', path: 'new/c.txt', type: 'file', after: 2 },
      { kind: 'changed', path: 'readme.md', type: 'file', before: 8, after: 14 },
      { kind: 'added', path: 'z.txt', type: 'file', after: 3 },
    ]);
    assert.deepEqual(d.summary, { added: 3, removed: 3, changed: 1, bytesAdded: 19, bytesRemoved: 19 });
    const text = (await ok(['diff', first, second], env)).stdout;
    assert.match(text, /^- {2}docs\/old\/a\.txt \(4 B\)$/m);
    assert.match(text, /^M {2}readme\.md \(8 B -> 14 B\)$/m);
    assert.match(text, /^3 added, 3 removed, 1 changed$/m);
    const same = JSON.parse((await ok(['diff', second, second, '--json'], env)).stdout);
    assert.deepEqual(same.changes, []);
  });

  it('stats: stored bytes are the pack files less their headers; restore sizes match the trees', async () => {
    const s = JSON.parse((await ok(['stats', '--json'], env)).stdout);
    // Each pack file is its blobs, the sealed header and 4 bytes naming the header's length.
    let blobBytes = 0;
    const packs = (await repoFiles(repo)).filter((f) => f.kind === 'pack');
    for (const p of packs) {
      const fh = await open(join(repo, p.rel), 'r');
      const tail = Buffer.alloc(4);
      await fh.read(tail, 0, 4, p.size - 4);
      await fh.close();
      blobBytes += p.size - 4 - tail.readUInt32LE(0);
    }
    assert.equal(s.raw.packs, packs.length);
    assert.equal(s.raw.storedBytes, blobBytes);
    const raw = await withRepository(
      repo,
      async (r) => [...r.storedBlobs()].reduce((n, e) => n + e.rawLength, 0),
      PASSWORD,
    );
    assert.equal(s.raw.rawBytes, raw);
    // Restore sizes: 8+6000+4+7 for the first, 14+6000+2+3 for the second.
    assert.deepEqual(s.restore.sources, [
      { source: 'site', snapshots: 2, files: 8, restoreBytes: 6019 + 6019, latestBytes: 6019 },
    ]);
    // Data stored once: guide.txt (one chunk) is shared by both snapshots.
    const unique = 8 + 6000 + 4 + 7 + 14 + 2 + 3;
    assert.equal(s.restore.dedupRatio, (6019 * 2) / unique);
    const only = JSON.parse((await ok(['stats', '--mode', 'raw', '--json'], env)).stdout);
    assert.deepEqual(Object.keys(only), ['raw']);
    await fails(['stats', '--mode', 'fast'], env, 2, /--mode "fast" is not known/);
  });

  it('tag rewrites the snapshot: snapshots --tag finds it, the old id still resolves', async () => {
    const r = JSON.parse((await ok(['tag', first, '--add', 'keep', '--add', 'audit', '--json'], env)).stdout);
    assert.equal(r.previousId, first);
    assert.notEqual(r.id, first);
    assert.deepEqual(r.tags, ['keep', 'audit']);
    assert.deepEqual(await session.ids(env, '--tag', 'keep'), [r.id]);
    assert.deepEqual(await session.ids(env), [r.id, second]);
    // The old id (and its prefix) still finds the snapshot; its tree is unchanged.
    const viaOld = JSON.parse((await ok(['ls', first.slice(0, 8), '--json'], env)).stdout);
    assert.equal(viaOld.id, r.id);
    assert.equal(viaOld.entries.length, 7);
    const again = JSON.parse((await ok(['tag', first, '--remove', 'audit', '--json'], env)).stdout);
    assert.equal(again.previousId, r.id);
    assert.deepEqual(again.tags, ['keep']);
    assert.deepEqual(await session.ids(env, '--tag', 'audit'), []);
    const unchanged = JSON.parse((await ok(['tag', again.id, '--add', 'keep', '--json'], env)).stdout);
    assert.equal(unchanged.changed, false);
    assert.equal(unchanged.id, again.id);
    await fails(['tag', again.id], env, 2, /give --add TAG or --remove TAG/);
    first = again.id;
  });

  it('a write-only key cannot look inside: forbidden', async () => {
    await ok(['key', 'add', '--write-only'], { ...env, LIFEBOAT_NEW_PASSWORD: 'wo-pass-Qz8^inlet' });
    const wo = { ...env, LIFEBOAT_PASSWORD: 'wo-pass-Qz8^inlet' };
    for (const args of [
      ['ls', second],
      ['find', '*'],
      ['diff', first, second],
      ['stats'],
      ['tag', second, '--add', 'x'],
    ]) {
      await fails(args, wo, 1, /write-only/);
    }
  });

  it('a damaged folder is named, the rest listed, exit 3', async () => {
    const oldTree = await withRepository(
      repo,
      async (r, place) => {
        const snap = await r.loadSnapshot(first);
        const { RepoContentStore } = await import('../../src/repo/content-store.js');
        const docs = (await new RepoContentStore(r).loadTree(snap.root)).nodes.find((n) => n.name === 'docs');
        const old = (await new RepoContentStore(r).loadTree(docs?.subtree ?? '')).nodes.find(
          (n) => n.name === 'old',
        );
        return place(old?.subtree ?? '');
      },
      PASSWORD,
    );
    const restoreByte = await flipByte(oldTree.file, oldTree.offset + 10);
    try {
      const r = await fails(['ls', first, '--json'], env, 3, /docs\/old: folder listing could not be read/);
      const listed: Listed[] = JSON.parse(r.stdout).entries;
      assert.deepEqual(
        listed.map((e) => e.path),
        ['docs', 'docs/guide.txt', 'docs/old', 'link', 'readme.md'],
      );
      await fails(
        ['find', '*.txt'],
        env,
        3,
        new RegExp(`snapshot ${first.slice(0, 8)}: docs/old: folder listing`),
      );
      await fails(['diff', first, second], env, 3, /docs\/old: folder listing could not be read/);
      // The second snapshot does not use that folder: its listing is whole.
      await ok(['ls', second], env);
    } finally {
      await restoreByte();
    }
  });
});

describe('ls and diff of SQLite dumps', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-inspect-sqlite-'));
    session.workDir = dir;
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_PASSWORD: PASSWORD });
    await ok(['init'], env);
  });
  after(() => cleanup());

  it('ls shows the artifact and rows per table; diff shows row-count changes', async () => {
    const path = join(dir, 'app.db');
    const db = new Database(path);
    db.exec(
      'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT);',
    );
    const addUser = db.prepare('INSERT INTO users (name) VALUES (?)');
    for (let i = 0; i < 30; i++) addUser.run(`u${i}`);
    db.prepare("INSERT INTO posts (body) VALUES ('hi')").run();
    await ok(['backup', '--type', 'sqlite', '--name', 'db', '--path', path], env);
    for (let i = 0; i < 12; i++) addUser.run(`v${i}`);
    db.exec('CREATE TABLE tags (t TEXT)');
    db.close();
    await ok(['backup', '--type', 'sqlite', '--name', 'db', '--path', path], env);
    const [a, b] = await session.ids(env);

    const listing = JSON.parse((await ok(['ls', a, '--json'], env)).stdout);
    assert.equal(listing.kind, 'logical');
    assert.deepEqual(listing.stats.rows, { posts: 1, users: 30 });
    const list: Listed[] = listing.entries;
    assert.equal(list.length, 1);
    assert.equal(list[0].type, 'file');
    const size = (await readFile(path)).length;
    assert.ok(list[0].size && list[0].size > 0 && list[0].size <= size * 2, `artifact size ${list[0].size}`);
    const text = (await ok(['ls', a], env)).stdout;
    assert.match(text, /^tables: 2/m);
    assert.match(text, /^posts +1$/m);
    assert.match(text, /^users +30$/m);

    const d = JSON.parse((await ok(['diff', a, b, '--json'], env)).stdout);
    assert.deepEqual(d.rows, [
      { table: 'tags', before: null, after: 0 },
      { table: 'users', before: 30, after: 42 },
    ]);
    assert.deepEqual(
      d.changes.map((c: { kind: string; path: string }) => [c.kind, c.path]),
      [['changed', list[0].path]],
    );
    const out = (await ok(['diff', a, b], env)).stdout;
    assert.match(out, /^rows users: 30 -> 42 \(\+12\)$/m);
    assert.match(out, /^rows tags: absent -> 0$/m);
  });

  it('leaks nothing', () => session.assertNoLeaks(10));
});
