/**
 * Reliability: damage costs only what it touches. Bytes are flipped in real repository
 * files; then a damaged snapshot file is named and skipped while every command goes on
 * with the others, and a restore that meets a damaged blob writes every other file exactly,
 * leaves nothing under a damaged file's real name, names each damaged path and exits 3.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { RepoContentStore } from '../../src/repo/content-store.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { BIN, type CliResult, lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';
import { artifactChunks, withRepository } from '../helpers/repo-blobs.js';
import { collect, flipByte, note, repoFiles, STACK_LINE } from '../helpers/repo-files.js';

const MiB = 1024 * 1024;

interface SnapshotJson {
  id: string;
  source: string;
  time: string;
  root: string;
}

function assertClean(r: CliResult, what: string): void {
  assert.doesNotMatch(r.stderr, STACK_LINE, `${what}: stack trace:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/, `${what}: an internal error:\n${r.stderr}`);
}

/** Files whose name starts like a restore's temporary files, anywhere under `dir`. */
async function restoreTemps(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  return entries.filter((e) => nodePath.basename(e).startsWith('.lifeboat-'));
}

/** Every path under `dir` (relative, '/'-separated), folders with a trailing '/'. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    const rel = nodePath.relative(dir, nodePath.join(e.parentPath, e.name));
    out.push(e.isDirectory() ? `${rel}/` : rel);
  }
  return out.sort();
}

describe('a damaged snapshot file costs only itself', { timeout: 300_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let photos: string;
  let notes: string;
  let snaps: SnapshotJson[];
  let damaged: SnapshotJson;
  let n = 0;
  const target = () => nodePath.join(work, `restore-${n++}`);

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-damage-snap-'));
    repo = nodePath.join(work, 'repo');
    env = repoEnv(repo);
    photos = nodePath.join(work, 'photos');
    notes = nodePath.join(work, 'notes');
    await writeTree(photos, { seed: 'dmg-photos', bytes: 2 * MiB, files: 12, randomShare: 0.9 });
    await writeTree(notes, { seed: 'dmg-notes', bytes: 3 * MiB, files: 10, randomShare: 1 });
    await lifeboat(['init'], env);
    await lifeboat(['backup', '--type', 'files', '--name', 'photos', '--path', photos], env);
    await lifeboat(['backup', '--type', 'files', '--name', 'notes', '--path', notes], env);
    await fs.writeFile(nodePath.join(photos, 'new.txt'), 'taken after the first backup\n');
    await lifeboat(['backup', '--type', 'files', '--name', 'photos', '--path', photos], env);
    snaps = JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout);
    assert.equal(snaps.length, 3);
    damaged = snaps.find((s) => s.source === 'notes') as SnapshotJson;
    const file = nodePath.join(repo, 'snapshots', damaged.id);
    await flipByte(file, Math.floor((await fs.stat(file)).size / 2));
  });

  after(() => cleanup());

  test('snapshots lists the others and names the damaged one on stderr, exit 3', async () => {
    const r = await runCli(['snapshots'], env);
    note(`snapshots with ${damaged.id.slice(0, 8)} damaged: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assertClean(r, 'snapshots');
    assert.equal(r.code, 3, r.stderr);
    for (const s of snaps.filter((x) => x !== damaged)) assert.ok(r.stdout.includes(s.id.slice(0, 8)));
    assert.ok(!r.stdout.includes(damaged.id.slice(0, 8)), 'the damaged snapshot is listed as if whole');
    assert.match(r.stdout, /^2 snapshots$/m);
    assert.ok(r.stderr.includes(damaged.id), `stderr does not name ${damaged.id}: ${r.stderr}`);
    assert.match(r.stderr, /damaged/);
    assert.ok(r.stderr.includes(`lifeboat forget ${damaged.id.slice(0, 8)}`), r.stderr);

    const j = await runCli(['snapshots', '--json'], env);
    assert.equal(j.code, 3, j.stderr);
    const listed = (JSON.parse(j.stdout) as SnapshotJson[]).map((s) => s.id).sort();
    assert.deepEqual(
      listed,
      snaps
        .filter((s) => s !== damaged)
        .map((s) => s.id)
        .sort(),
    );
    assert.ok(j.stderr.includes(damaged.id), j.stderr);
  });

  test('restore of another snapshot is exact; of the damaged one, a clear failure', async () => {
    const to = target();
    const r = await runCli(['restore', 'latest', '--source', 'photos', '--to', to], env);
    assert.equal(r.code, 0, r.stderr);
    // `latest` chose among the snapshots that read: the warning says which did not.
    assert.ok(r.stderr.includes(damaged.id), `no warning about ${damaged.id}: ${r.stderr}`);
    assert.deepEqual(await compareTrees(photos, to), []);
    const older = snaps.find((s) => s.source === 'photos') as SnapshotJson;
    const to2 = target();
    const r2 = await runCli(['restore', older.id.slice(0, 8), '--to', to2], env);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(await compareTrees(photos, to2, { skip: (p) => p === 'new.txt' }), []);
    assert.ok(!existsSync(nodePath.join(to2, 'new.txt')));

    const bad = await runCli(['restore', damaged.id.slice(0, 8), '--to', target()], env);
    note(`restore of the damaged snapshot: exit ${bad.code}: ${bad.stderr.trim()}`);
    assertClean(bad, 'restore damaged');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /damaged/);
    assert.ok(bad.stderr.includes(damaged.id.slice(0, 8)), bad.stderr);
    assert.ok(bad.stderr.includes('lifeboat forget'), bad.stderr);
    const gone = await runCli(['restore', 'latest', '--source', 'notes', '--to', target()], env);
    assert.equal(gone.code, 1);
    assert.ok(
      gone.stderr.includes(damaged.id.slice(0, 8)),
      `not found, without naming the damaged file: ${gone.stderr}`,
    );
  });

  test('prune counts the damaged snapshot as lost, names it, and keeps what the others use', async () => {
    const packsBefore = (await repoFiles(repo)).filter((f) => f.kind === 'pack').length;
    const r = await runCli(['prune'], env);
    note(`prune: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assertClean(r, 'prune');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(damaged.id), r.stderr);
    assert.ok(r.stderr.includes(`lifeboat forget ${damaged.id.slice(0, 8)}`), r.stderr);
    const packsAfter = (await repoFiles(repo)).filter((f) => f.kind === 'pack').length;
    assert.ok(
      packsAfter < packsBefore,
      `the notes data was not freed: ${packsBefore} -> ${packsAfter} packs`,
    );
    const to = target();
    assert.equal((await runCli(['restore', 'latest', '--source', 'photos', '--to', to], env)).code, 0);
    assert.deepEqual(await compareTrees(photos, to), []);
  });

  test('forget by policy works around it, and `forget ID` removes it', async () => {
    const r = await runCli(['forget', '--keep-last', '1'], env);
    note(`forget --keep-last 1: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(damaged.id), `forget does not name the damaged snapshot: ${r.stderr}`);
    const older = snaps.find((s) => s.source === 'photos') as SnapshotJson;
    assert.ok(!existsSync(nodePath.join(repo, 'snapshots', older.id)), 'the older photos snapshot stayed');
    assert.ok(
      existsSync(nodePath.join(repo, 'snapshots', damaged.id)),
      'a policy removed a snapshot it cannot read',
    );

    const f = await runCli(['forget', damaged.id.slice(0, 8)], env);
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, new RegExp(`removed snapshot ${damaged.id.slice(0, 8)}`));
    assert.ok(!existsSync(nodePath.join(repo, 'snapshots', damaged.id)));
    const list = await runCli(['snapshots'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stderr, '');
    assert.equal((await runCli(['prune'], env)).code, 0);
    const check = await runCli(['check', '--read-data'], env);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const to = target();
    assert.equal((await runCli(['restore', 'latest', '--source', 'photos', '--to', to], env)).code, 0);
    assert.deepEqual(await compareTrees(photos, to), []);
  });
});

describe('an unreadable snapshot file (a read error, maybe passing)', { timeout: 120_000 }, () => {
  test('is named and skipped; prune deletes nothing and says why', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run lifeboat as nobody');
      return;
    }
    const { dir: work, cleanup } = await tempDir('lifeboat-damage-unread-');
    try {
      await fs.chmod(work, 0o755);
      const repo = nodePath.join(work, 'repo');
      const env = repoEnv(repo);
      const a = nodePath.join(work, 'a');
      const b = nodePath.join(work, 'b');
      await writeTree(a, { seed: 'unread-a', bytes: 512 * 1024, files: 6, randomShare: 1 });
      await writeTree(b, { seed: 'unread-b', bytes: 512 * 1024, files: 6, randomShare: 1 });
      await lifeboat(['init'], env);
      await lifeboat(['backup', '--type', 'files', '--name', 'a', '--path', a], env);
      await lifeboat(['backup', '--type', 'files', '--name', 'b', '--path', b], env);
      const snaps: SnapshotJson[] = JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout);
      const hidden = snaps.find((s) => s.source === 'b') as SnapshotJson;
      await lifeboat(['forget', snaps.find((s) => s.source === 'a')!.id], env);
      await fs.chmod(work, 0o755);
      await spawnOk('chown', ['-R', 'nobody', repo]);
      await fs.chmod(nodePath.join(repo, 'snapshots', hidden.id), 0o000);
      const as = (args: string[]) =>
        collect(spawn('runuser', ['-u', 'nobody', '--', process.execPath, BIN, ...args], { env, cwd: work }));
      const probe = await as(['--version']).catch(() => undefined);
      if (probe?.code !== 0) {
        t.skip(`cannot run as nobody: ${probe?.stderr ?? 'runuser failed'}`);
        return;
      }
      const packs = (await repoFiles(repo)).filter((f) => f.kind === 'pack').map((f) => f.name);

      const list = await as(['snapshots']);
      note(`snapshots with one unreadable: exit ${list.code}\n${list.stdout}${list.stderr}`);
      assert.equal(list.code, 3, list.stderr);
      assert.ok(list.stderr.includes(hidden.id), list.stderr);
      assert.match(list.stderr, /could not be read/);

      const prune = await as(['prune']);
      note(`prune with one unreadable: exit ${prune.code}: ${prune.stderr.trim()}`);
      assert.equal(prune.code, 1);
      assert.ok(prune.stderr.includes(hidden.id.slice(0, 8)), prune.stderr);
      assert.match(prune.stderr, /nothing is deleted/);
      const after = (await repoFiles(repo)).filter((f) => f.kind === 'pack').map((f) => f.name);
      assert.deepEqual(after, packs, 'prune deleted packs while a snapshot was unreadable');
      // Readable again: everything is there.
      await fs.chmod(nodePath.join(repo, 'snapshots', hidden.id), 0o644);
      const to = nodePath.join(work, 'restored');
      const r = await runCli(['restore', hidden.id, '--to', to], env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await compareTrees(b, to), []);
    } finally {
      await cleanup();
    }
  });
});

async function spawnOk(cmd: string, args: string[]): Promise<void> {
  const r = await collect(spawn(cmd, args));
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

describe('a files restore that meets a damaged blob', { timeout: 300_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let src: string;
  let snap: SnapshotJson;
  /** Blob id (hex) -> the paths (from the snapshot root) of the files whose content uses it. */
  const users = new Map<string, string[]>();
  /** Hard links: the path of the entry with the content -> the other paths of that inode. */
  const links = new Map<string, string[]>();
  /** Every file that needs `blob`: those whose content uses it, and their hard links. */
  const needing = (blob: string) =>
    (users.get(blob) ?? []).flatMap((p) => [p, ...(links.get(p) ?? [])]).sort();
  /** Tree blob id -> the folder (from the root, trailing '/') it lists. */
  const trees = new Map<string, string>();

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-damage-blob-'));
    repo = nodePath.join(work, 'repo');
    env = repoEnv(repo);
    src = nodePath.join(work, 'src');
    await writeTree(nodePath.join(src, 'rest'), { seed: 'dmg-rest', bytes: 3 * MiB, files: 40, dirs: 4 });
    await writeTree(nodePath.join(src, 'other'), { seed: 'dmg-other', bytes: 1 * MiB, files: 8 });
    // One large file of several chunks, a copy (same chunks) and a hard link to it.
    const big = Buffer.alloc(6 * MiB);
    for (let i = 0; i < big.length; i += 4)
      big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    await fs.mkdir(nodePath.join(src, 'media', 'copies'), { recursive: true });
    await fs.writeFile(nodePath.join(src, 'media', 'big.bin'), big);
    await fs.writeFile(nodePath.join(src, 'media', 'copies', 'big-copy.bin'), big);
    await fs.link(nodePath.join(src, 'media', 'big.bin'), nodePath.join(src, 'media', 'big-link.bin'));
    await lifeboat(['init'], env);
    await lifeboat(['backup', '--type', 'files', '--name', 'src', '--path', src], env);
    [snap] = JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout);

    // Which files use which blob, read with the library (the test knows the password).
    await withRepository(repo, async (r) => {
      const store = new RepoContentStore(r);
      const walk = async (treeId: string, prefix: string) => {
        trees.set(treeId, prefix);
        for (const node of (await store.loadTree(treeId)).nodes) {
          const path = `${prefix}${node.name}`;
          for (const c of node.content ?? []) users.set(c, [...(users.get(c) ?? []), path]);
          if (node.hardlinkTo) links.set(node.hardlinkTo, [...(links.get(node.hardlinkTo) ?? []), path]);
          if (node.subtree) await walk(node.subtree, `${path}/`);
        }
      };
      await walk(snap.root, '');
    });
  });

  after(() => cleanup());

  /** Where a blob is stored (its pack file and byte range), from the index. */
  const locate = (id: string) => withRepository(repo, async (_r, place) => place(id));

  test('every other file is written and exact; damaged ones are absent and named; exit 3', async () => {
    // The third chunk of big.bin: a part of the file is written when the damage is met.
    const big = [...users].filter(([id]) => needing(id).includes('media/big.bin')).map(([id]) => id);
    assert.ok(big.length >= 4, `big.bin has only ${big.length} chunks`);
    const blob = big[2];
    const expected = needing(blob);
    assert.deepEqual(expected, ['media/big-link.bin', 'media/big.bin', 'media/copies/big-copy.bin']);
    const at = await locate(blob);
    const unflip = await flipByte(at.file, at.offset + Math.floor(at.length / 2));
    try {
      for (const json of [false, true]) {
        const to = nodePath.join(work, `restore-${json ? 'json' : 'text'}`);
        const r = await runCli(['restore', 'latest', '--to', to, ...(json ? ['--json'] : [])], env);
        note(
          `restore with blob ${blob.slice(0, 8)} damaged${json ? ' (--json)' : ''}: exit ${r.code}\n${r.stdout}${r.stderr}`,
        );
        assertClean(r, 'damaged blob');
        assert.equal(r.code, 3, r.stderr);
        let named: string[];
        if (json) {
          const out = JSON.parse(r.stdout) as { damaged: { path: string; reason: string }[] };
          named = out.damaged.map((d) => d.path).sort();
          for (const d of out.damaged) assert.ok(d.reason.includes(at.pack), `${d.path}: ${d.reason}`);
        } else {
          named = [...r.stdout.matchAll(/^not restored: (.+)$/gm)].map((m) => m[1]).sort();
        }
        assert.deepEqual(named, expected);
        for (const p of expected)
          assert.ok(r.stderr.includes(p), `the error does not name ${p}: ${r.stderr}`);
        assert.ok(r.stderr.includes(at.pack.slice(0, 8)), `the error does not name the pack: ${r.stderr}`);
        for (const p of expected)
          assert.ok(!existsSync(nodePath.join(to, p)), `${p} is there under its real name`);
        assert.deepEqual(await restoreTemps(to), [], 'temporary files were left behind');
        const diffs = await compareTrees(src, to, { skip: (p) => expected.includes(p) });
        assert.deepEqual(diffs, [], 'a file that does not need the damaged blob differs');
        const present = await listTree(to);
        const wanted = (await listTree(src)).filter((p) => !expected.includes(p));
        assert.deepEqual(present, wanted);
      }
    } finally {
      await unflip();
    }
  });

  test('a damaged folder listing: the folder is named, everything else is exact', async () => {
    const [treeId, folder] = [...trees].find(([, path]) => path === 'other/') as [string, string];
    const at = await locate(treeId);
    const unflip = await flipByte(at.file, at.offset + Math.floor(at.length / 2));
    try {
      const to = nodePath.join(work, 'restore-tree');
      const r = await runCli(['restore', 'latest', '--to', to, '--json'], env);
      note(`restore with folder ${folder} damaged: exit ${r.code}\n${r.stderr}`);
      assert.equal(r.code, 3, r.stderr);
      const out = JSON.parse(r.stdout) as { damaged: { path: string }[] };
      assert.deepEqual(
        out.damaged.map((d) => d.path),
        [folder],
      );
      assert.ok(!existsSync(nodePath.join(to, 'other')), 'the damaged folder was created');
      assert.deepEqual(
        await compareTrees(src, to, { skip: (p) => p === 'other' || p.startsWith('other/') }),
        [],
      );
    } finally {
      await unflip();
    }
  });

  test('with --overwrite, a damaged file leaves what was at the target untouched', async () => {
    const big = [...users].filter(([id]) => needing(id).includes('media/big.bin')).map(([id]) => id);
    const at = await locate(big[0]);
    const to = nodePath.join(work, 'restore-over');
    await fs.mkdir(nodePath.join(to, 'media', 'copies'), { recursive: true });
    await fs.writeFile(nodePath.join(to, 'media', 'big.bin'), 'the old big.bin\n');
    const unflip = await flipByte(at.file, at.offset + 40);
    try {
      const r = await runCli(['restore', 'latest', '--to', to, '--overwrite'], env);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(await fs.readFile(nodePath.join(to, 'media', 'big.bin'), 'utf8'), 'the old big.bin\n');
      assert.deepEqual(await restoreTemps(to), []);
      const expected = needing(big[0]);
      assert.deepEqual(await compareTrees(src, to, { skip: (p) => expected.includes(p) }), []);
    } finally {
      await unflip();
    }
  });
});

describe('a SQLite restore that meets a damaged blob', { timeout: 180_000 }, () => {
  test('names the artifact, the damaged bytes and their tables, and leaves the target as it was', async () => {
    const { dir: work, cleanup } = await tempDir('lifeboat-damage-sqlite-');
    try {
      const repo = nodePath.join(work, 'repo');
      const env = repoEnv(repo);
      const dbPath = nodePath.join(work, 'app.db');
      const db = new Database(dbPath);
      db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, body BLOB);
        CREATE INDEX events_kind ON events (kind);
        CREATE TABLE attachments (id INTEGER PRIMARY KEY, data BLOB);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);`);
      // Random bytes: the chunker then cuts about every MiB (patterned bytes could give a
      // handful of 8 MiB chunks, too few to damage three places).
      const seed = (n: number) => randomBytes(n);
      // Rows of every table in turn, so that their pages interleave through the file.
      db.transaction(() => {
        for (let i = 0; i < 3000; i++) {
          if (i % 15 === 0) db.prepare('INSERT INTO users (name) VALUES (?)').run(`user ${i}`);
          db.prepare('INSERT INTO events (kind, body) VALUES (?, ?)').run(`kind-${i % 7}`, seed(1500 + i));
          // Large rows: their payload lives in chains of overflow pages.
          if (i % 250 === 0) db.prepare('INSERT INTO attachments (data) VALUES (?)').run(seed(300_000 + i));
          db.prepare('INSERT INTO notes (text) VALUES (?)').run(`note ${i} `.repeat(20));
        }
      })();
      db.close();
      await lifeboat(['init'], env);
      await lifeboat(['backup', '--type', 'sqlite', '--name', 'app', '--path', dbPath], env);
      const [snap]: SnapshotJson[] = JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout);

      // The artifact's chunks and where each starts in it, read with the library.
      const { name: artifact, chunks } = await artifactChunks(repo, snap.root);
      assert.ok(chunks.length >= 5, `the database is only ${chunks.length} chunks`);
      // What held each chunk's bytes, by SQLite's own dbstat over the same file (the artifact).
      const copy = nodePath.join(work, 'dumped.db');
      await lifeboat(['dump', snap.id, '--output', copy], env);
      const check = new Database(copy, { readonly: true });
      const pageSize = check.pragma('page_size', { simple: true }) as number;
      const tableOf = new Map(
        (
          check.prepare('SELECT name, tbl_name, type FROM sqlite_schema').all() as {
            name: string;
            tbl_name: string;
            type: string;
          }[]
        ).map((s) => [s.name, s.type === 'index' ? `${s.tbl_name} (index ${s.name})` : s.name]),
      );
      const heldBy = (hit: (typeof chunks)[number]) =>
        (
          check
            .prepare('SELECT DISTINCT name FROM dbstat WHERE pageno BETWEEN ? AND ?')
            .pluck()
            .all(Math.floor(hit.start / pageSize) + 1, Math.floor((hit.end - 1) / pageSize) + 1) as string[]
        )
          .map((n) => tableOf.get(n) ?? n)
          .sort();

      const target = nodePath.join(work, 'target.db');
      const old = new Database(target);
      old.exec("CREATE TABLE kept (x); INSERT INTO kept VALUES ('the old database')");
      old.close();
      const before = await fs.readFile(target);
      const hits = [chunks[0], chunks[Math.floor(chunks.length / 2)], chunks[chunks.length - 2]];
      const seen = new Set<string>();
      for (const hit of hits) {
        // The first chunk holds the file header and the schema's root: nothing can be told then.
        const expected = hit === chunks[0] ? [] : heldBy(hit);

        const unflip = await flipByte(hit.file, hit.offset + Math.floor(hit.length / 2));
        try {
          const res = await runCli(
            ['restore', 'latest', '--source', 'app', '--to', target, '--overwrite'],
            env,
          );
          note(
            `sqlite restore with bytes ${hit.start}-${hit.end} damaged (dbstat: ${heldBy(hit).join(', ')}): exit ${res.code}\n${res.stderr}`,
          );
          assertClean(res, 'sqlite damaged');
          assert.equal(res.code, 1);
          assert.ok(res.stderr.includes(artifact), `the artifact ${artifact} is not named: ${res.stderr}`);
          assert.ok(
            res.stderr.includes(`bytes ${hit.start}-${hit.end}`),
            `the byte range is not named: ${res.stderr}`,
          );
          if (expected.length === 0) {
            assert.match(res.stderr, /which tables they held cannot be told \(the file header/);
          } else {
            const named = /they held tables? (.+?)(?: and \d+ more pages \(.*?\))?;/.exec(res.stderr)?.[1];
            assert.ok(named, `no tables named: ${res.stderr}`);
            // Pages below a damaged interior page cannot be attributed (dbstat reads the
            // intact file): then what is named is a part of what dbstat finds, else all of it.
            const list = named.split(', ').sort();
            const unattributed = /and \d+ more pages/.test(res.stderr);
            for (const t of list) assert.ok(expected.includes(t), `${t} is named, dbstat finds ${expected}`);
            if (!unattributed)
              assert.deepEqual(list, expected, 'the tables named are not those dbstat finds');
          }
          for (const t of expected) seen.add(t);
          assert.deepEqual(await fs.readFile(target), before, 'the target database was changed');
          assert.deepEqual(
            (await fs.readdir(work)).filter((f) => f.includes('lifeboat')),
            [],
            'temporary files were left beside the target',
          );
          const fresh = nodePath.join(work, 'fresh.db');
          const res2 = await runCli(['restore', 'latest', '--source', 'app', '--to', fresh], env);
          assert.equal(res2.code, 1);
          assert.ok(!existsSync(fresh), 'a broken database was left at the new path');
          // `dump` names the artifact and its damaged bytes too, and leaves no file.
          const out = nodePath.join(work, 'dump.db');
          const dump = await runCli(['dump', 'latest', '--source', 'app', '--output', out], env);
          assert.equal(dump.code, 1);
          assert.ok(
            dump.stderr.includes(`artifact "${artifact}" is damaged: bytes ${hit.start}-${hit.end}`),
            dump.stderr,
          );
          assert.ok(!existsSync(out));
        } finally {
          await unflip();
        }
      }
      check.close();
      assert.ok(seen.size >= 3, `the damage landed in too few tables to tell much: ${[...seen].join(', ')}`);
      const ok = await runCli(['restore', 'latest', '--source', 'app', '--to', target, '--overwrite'], env);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await cleanup();
    }
  });
});

describe('a files restore killed midway', { timeout: 180_000 }, () => {
  test('leaves no partial file under a real name', async () => {
    const { dir: work, cleanup } = await tempDir('lifeboat-damage-kill-');
    try {
      const repo = nodePath.join(work, 'repo');
      const env = repoEnv(repo);
      const src = nodePath.join(work, 'src');
      await writeTree(src, { seed: 'kill-restore', bytes: 96 * MiB, files: 12, dirs: 2, randomShare: 1 });
      await lifeboat(['init'], env);
      await lifeboat(['backup', '--type', 'files', '--name', 'src', '--path', src], env);
      const to = nodePath.join(work, 'restored');
      // Downloads limited to 16 MiB/s: the 96 MiB restore takes seconds on any machine, so the
      // kill lands midway instead of racing a restore that is already done.
      const child = spawn(
        process.execPath,
        [BIN, '--limit-download', '16384', 'restore', 'latest', '--to', to],
        {
          env,
        },
      );
      const done = collect(child);
      // Killed once a file is being written under its temporary name (and some are done).
      let killed = false;
      const deadline = Date.now() + 60_000;
      while (!killed && Date.now() < deadline && child.exitCode === null) {
        const temps = existsSync(to) ? await restoreTemps(to).catch(() => []) : [];
        const real = existsSync(to)
          ? // By name, not by the listing of temporaries a moment earlier: one made in between
            // would count as a finished file.
            (await listTree(to).catch(() => [])).filter(
              (p) => !p.endsWith('/') && !nodePath.basename(p).startsWith('.lifeboat-'),
            )
          : [];
        if (temps.length > 0 && real.length > 0) killed = child.kill('SIGKILL');
        else await new Promise((r) => setTimeout(r, 2));
      }
      const exit = await done;
      assert.ok(killed, `the restore ended (${exit.code}) before it could be killed midway`);
      const present = (await listTree(to)).filter(
        (p) => !p.endsWith('/') && !nodePath.basename(p).startsWith('.lifeboat-'),
      );
      note(
        `killed restore: ${present.length} files under their names, ${(await restoreTemps(to)).length} temporary`,
      );
      assert.ok(present.length > 0);
      for (const p of present) {
        const [a, b] = await Promise.all([
          fs.readFile(nodePath.join(src, p)),
          fs.readFile(nodePath.join(to, p)),
        ]);
        assert.ok(
          a.equals(b),
          `${p} is under its real name but not whole (${b.length} of ${a.length} bytes)`,
        );
      }
    } finally {
      await cleanup();
    }
  });
});
