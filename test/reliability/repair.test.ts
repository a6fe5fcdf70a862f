/**
 * Reliability: damage on disk (a flipped byte in a blob, a deleted pack, a deleted or damaged
 * index file, a damaged snapshot file), what `check` says it affects, and `lifeboat repair`
 * back to a repository that checks clean and restores what its sources still hold. Every
 * repair is tried with --dry-run first (the repository's file listing must not change), one is
 * killed with SIGKILL midway, and each is refused while another process holds a lock.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Repository } from '../../src/repo/repository.js';
import { openBackend } from '../../src/storage/registry.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { repoEnv, startCli, tempDir } from '../helpers/cli.js';
import { CliSession } from '../helpers/cli-session.js';
import { writeTree } from '../helpers/data-gen.js';
import {
  collect,
  flipByte,
  note,
  type RepoFile,
  repoFiles,
  signalWhen,
  tempFiles,
} from '../helpers/repo-files.js';

const MiB = 1024 * 1024;
const PASSWORD = 'pw-repair-Vb8!copper-heron';
const session = new CliSession({ password: PASSWORD });
const { cli, ok, fails } = session;

interface SnapshotJson {
  id: string;
  source: string;
  time: string;
  tags: string[];
  repaired?: { from: string; time: string; cut: number };
}

interface DamageJson {
  kind: string;
  name: string;
  problem: string;
  blobsLost: number;
  affects: { snapshot: string; source: string; time: string; paths: string[]; pathCount: number }[];
}

/** What `check` printed about one damaged object: its headline and, per snapshot, the paths. */
interface DamageText {
  head: string;
  snapshots: Map<string, { source: string; time: string; paths: string[] }>;
}

function damageBlocks(stdout: string): DamageText[] {
  const out: DamageText[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('damage: ')) out.push({ head: line, snapshots: new Map() });
    else if (line.startsWith('  ') && out.length > 0 && /^ {2}[0-9a-f]{8} {2}/.test(line)) {
      const m = line.match(/^ {2}([0-9a-f]{8}) {2}(\S+) {2}(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) {2}(.*)$/);
      assert.ok(m, `an affected-snapshot line: ${line}`);
      const paths = m[4].replace(/ \(and \d+ more\)$/, '').split(', ');
      out.at(-1)!.snapshots.set(m[1], { source: m[2], time: m[3], paths });
    }
  }
  return out;
}

/** `2026-12-07T10:00:00.123Z` as check prints it. */
function shownTime(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}

/** Every object and temp file of the repository, with sizes: what a dry run must leave as it was. */
async function listing(repo: string): Promise<string[]> {
  const files = (await repoFiles(repo)).filter((f) => f.kind !== 'lock');
  return [...files.map((f) => `${f.rel} ${f.size}`), ...(await tempFiles(repo))];
}

async function biggestPack(repo: string): Promise<RepoFile> {
  const packs = (await repoFiles(repo)).filter((f) => f.kind === 'pack');
  return packs.sort((a, b) => b.size - a.size)[0];
}

describe('lifeboat repair', { timeout: 600_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let pristine: string;
  let photos: string;
  let notes: string;
  /** The file added between the two photos backups (not in the first). */
  const added = 'late/added.bin';
  let restores = 0;

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-repair-'));
    session.workDir = work;
    pristine = nodePath.join(work, 'pristine');
    photos = nodePath.join(work, 'photos');
    notes = nodePath.join(work, 'notes');
    await writeTree(photos, { seed: 'repair-photos', bytes: 4 * MiB, files: 14, randomShare: 0.9 });
    await writeTree(notes, { seed: 'repair-notes', bytes: MiB / 2, files: 8, randomShare: 0.3 });
    const env = repoEnv(pristine, { LIFEBOAT_PASSWORD: PASSWORD });
    await ok(['init'], env);
    await ok(['backup', '--type', 'files', '--name', 'photos', '--path', photos], env);
    await ok(['backup', '--type', 'files', '--name', 'notes', '--path', notes], env);
    await fs.mkdir(nodePath.join(photos, 'late'));
    await fs.writeFile(nodePath.join(photos, added), Buffer.alloc(70_000, 7));
    await ok(['backup', '--type', 'files', '--name', 'photos', '--path', photos], env);
    await ok(['check', '--read-data'], env);
  });
  after(() => cleanup());

  /** A copy of the pristine repository for one scenario. */
  async function copyRepo(name: string): Promise<{ repo: string; env: NodeJS.ProcessEnv }> {
    const repo = nodePath.join(work, name);
    await fs.cp(pristine, repo, { recursive: true });
    return { repo, env: repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD }) };
  }

  async function snapshots(env: NodeJS.ProcessEnv): Promise<SnapshotJson[]> {
    return JSON.parse((await ok(['snapshots', '--json'], env)).stdout);
  }

  /** Restores `ref` and compares it with `source` (minus `skip`); returns the restore's output. */
  async function restoresAs(
    env: NodeJS.ProcessEnv,
    ref: string[],
    source: string,
    skip: (rel: string) => boolean = () => false,
  ): Promise<{ to: string; stdout: string }> {
    const to = nodePath.join(work, `restore-${restores++}`);
    const r = await ok(['restore', ...ref, '--to', to], env);
    assert.deepEqual(await compareTrees(source, to, { skip }), [], `restore ${ref.join(' ')} differs`);
    return { to, stdout: r.stdout };
  }

  /** Dry run of a repair: exit 0 and not one file of the repository changed. */
  async function dryRun(env: NodeJS.ProcessEnv, repo: string, args: string[]): Promise<string> {
    const before = await listing(repo);
    const r = await ok([...args, '--dry-run'], env);
    assert.deepEqual(await listing(repo), before, `${args.join(' ')} --dry-run changed the repository`);
    return r.stdout;
  }

  test('a flipped byte in one blob: check names what it costs; repair packs, repair snapshots, a new backup', async () => {
    const { repo, env } = await copyRepo('flip');
    const snaps = await snapshots(env);
    const photoSnaps = snaps.filter((s) => s.source === 'photos');
    const notesSnap = snaps.find((s) => s.source === 'notes')!;
    const pack = await biggestPack(repo);
    await flipByte(nodePath.join(repo, pack.rel), 100); // inside the pack's first blob

    // check --read-data names the pack, both photos snapshots (id, source, time) and the file.
    const check = await fails(['check', '--read-data'], env, 1, /has \d+ errors?/);
    note(`check --read-data with a flipped byte:\n${check.stdout}${check.stderr}`);
    const text = `${check.stdout}${check.stderr}`;
    assert.doesNotMatch(text, /run `?lifeboat check/, 'check tells the user to run check');
    assert.match(check.stdout, new RegExp(`^ {2}lifeboat repair packs ${pack.name.slice(0, 8)}$`, 'm'));
    assert.match(check.stdout, /^ {2}lifeboat repair snapshots --forget$/m);
    assert.match(check.stderr, new RegExp(`to repair: \`lifeboat repair packs ${pack.name.slice(0, 8)}\``));
    const blocks = damageBlocks(check.stdout);
    const block = blocks.find((b) => b.head.startsWith(`damage: pack ${pack.name.slice(0, 8)}:`));
    assert.ok(block, `no damage line for the pack:\n${check.stdout}`);
    assert.match(block.head, /1 blob lost; affects 2 snapshots/);
    assert.deepEqual([...block.snapshots.keys()].sort(), photoSnaps.map((s) => s.id.slice(0, 8)).sort());
    for (const s of photoSnaps) {
      const seen = block.snapshots.get(s.id.slice(0, 8));
      assert.ok(seen);
      assert.equal(seen.source, 'photos');
      assert.equal(seen.time, shownTime(s.time));
    }
    const named = block.snapshots.get(photoSnaps[0].id.slice(0, 8))!.paths;
    assert.equal(named.length, 1, `one blob is one file: ${named}`);
    assert.deepEqual(block.snapshots.get(photoSnaps[1].id.slice(0, 8))!.paths, named);
    const cutFile = named[0];
    await fs.stat(nodePath.join(photos, cutFile)); // a real file of the source
    const json = JSON.parse((await cli(['check', '--read-data', '--json'], env)).stdout);
    const d: DamageJson = json.damage.find((x: DamageJson) => x.name === pack.name);
    assert.equal(d.kind, 'pack');
    assert.equal(d.blobsLost, 1);
    assert.deepEqual(
      d.affects.map((a) => [a.snapshot, a.source, a.time, a.paths]),
      photoSnaps.map((s) => [s.id, 'photos', s.time, [cutFile]]),
    );
    // The other source is untouched by the damage.
    await restoresAs(env, [notesSnap.id], notes);

    // repair packs: --dry-run writes nothing; then every other blob is salvaged, the pack goes.
    const dry = await dryRun(env, repo, ['repair', 'packs']);
    assert.match(dry, /would be salvaged, 1 lost; the pack would be removed/);
    const repaired = await ok(['repair', 'packs'], env);
    note(`repair packs:\n${repaired.stdout}`);
    const m = repaired.stdout.match(
      new RegExp(
        `^pack ${pack.name.slice(0, 8)} \\(.*\\): (\\d+) of (\\d+) blobs salvaged, 1 lost; the pack was removed$`,
        'm',
      ),
    );
    assert.ok(m, repaired.stdout);
    assert.equal(Number(m[1]) + 1, Number(m[2]));
    assert.match(
      repaired.stdout,
      new RegExp(`^ {2}${photoSnaps[1].id.slice(0, 8)} {2}photos {2}.* {2}${cutFile}$`, 'm'),
    );
    assert.ok(!(await repoFiles(repo)).some((f) => f.name === pack.name), 'the damaged pack is still there');
    // The salvaged blobs restore: every file of the snapshot but the cut one, identical.
    const others = (await fs.readdir(photos, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => nodePath.relative(photos, nodePath.join(e.parentPath, e.name)))
      .filter((p) => p !== cutFile);
    await restoresAs(
      env,
      ['latest', '--source', 'photos', ...others.flatMap((p) => ['--include', p])],
      photos,
      (rel) => rel === cutFile,
    );
    await fails(
      ['restore', 'latest', '--source', 'photos', '--to', nodePath.join(work, 'no')],
      env,
      3,
      new RegExp(`could not be restored.*${cutFile}`),
    );

    // repair snapshots: --dry-run writes nothing; --forget writes cut snapshots, drops the originals.
    const dryCut = await dryRun(env, repo, ['repair', 'snapshots', '--forget']);
    assert.match(dryCut, /^2 of 3 snapshots would be repaired/m);
    const cut = await ok(['repair', 'snapshots', '--forget'], env);
    note(`repair snapshots --forget:\n${cut.stdout}`);
    for (const s of photoSnaps) {
      assert.match(
        cut.stdout,
        new RegExp(
          `^snapshot ${s.id.slice(0, 8)} -> [0-9a-f]{8} {2}photos {2}.* {2}cut: ${cutFile}, original removed$`,
          'm',
        ),
      );
    }
    const after = await snapshots(env);
    assert.equal(after.length, 3);
    const fixed = after.filter((s) => s.source === 'photos');
    assert.deepEqual(fixed.map((s) => s.repaired?.from).sort(), photoSnaps.map((s) => s.id).sort());
    for (const s of fixed) {
      assert.ok(s.tags.includes('repaired'));
      assert.equal(s.time, photoSnaps.find((p) => p.id === s.repaired?.from)!.time, 'the time is kept');
    }
    await ok(['check', '--read-data'], env);

    // The cut file restores shorter, marked: the original minus one cut-out range.
    const { to, stdout } = await restoresAs(
      env,
      ['latest', '--source', 'photos'],
      photos,
      (rel) => rel === cutFile,
    );
    assert.match(stdout, new RegExp(`^warning: ${cutFile}: damaged: \\d+ bytes were lost`, 'm'));
    const original = await fs.readFile(nodePath.join(photos, cutFile));
    const left = await fs.readFile(nodePath.join(to, cutFile));
    assert.ok(left.length < original.length);
    let prefix = 0;
    while (prefix < left.length && left[prefix] === original[prefix]) prefix++;
    assert.ok(
      left.subarray(prefix).equals(original.subarray(original.length - (left.length - prefix))),
      'the restored file is the original with one range cut out',
    );

    // A new backup reads the cut file again (the parent marks it damaged) and stores what was lost.
    const backup = JSON.parse(
      (await ok(['backup', '--type', 'files', '--name', 'photos', '--path', photos, '--json'], env)).stdout,
    );
    assert.ok(backup[0].saved[0].backup.bytesAdded > 0, 'the lost blob was stored again');
    await ok(['check', '--read-data'], env);
    await restoresAs(env, ['latest', '--source', 'photos'], photos);
  });

  test('a deleted pack: check names it; repair index drops it; a backup of the source stores it again', async () => {
    const { repo, env } = await copyRepo('deleted-pack');
    const photoSnaps = (await snapshots(env)).filter((s) => s.source === 'photos');
    const pack = await biggestPack(repo);
    await fs.rm(nodePath.join(repo, pack.rel));

    const check = await fails(['check'], env, 1, /missing from storage/);
    note(`check with a deleted pack:\n${check.stdout}`);
    const block = damageBlocks(check.stdout).find((b) =>
      b.head.startsWith(`damage: pack ${pack.name.slice(0, 8)}:`),
    );
    assert.ok(block, check.stdout);
    assert.match(block.head, /missing from storage; \d+ blobs lost; affects 2 snapshots/);
    assert.deepEqual([...block.snapshots.keys()].sort(), photoSnaps.map((s) => s.id.slice(0, 8)).sort());
    assert.ok(
      block.snapshots.get(photoSnaps[0].id.slice(0, 8))!.paths.length > 1,
      'the pack held several files',
    );
    assert.match(check.stdout, /^ {2}lifeboat repair index$/m);
    assert.doesNotMatch(`${check.stdout}${check.stderr}`, /run `?lifeboat check/);

    const dry = await dryRun(env, repo, ['repair', 'index']);
    assert.match(
      dry,
      new RegExp(`pack ${pack.name.slice(0, 8)} is missing from storage: its \\d+ blobs would be dropped`),
    );
    const r = await ok(['repair', 'index'], env);
    assert.match(r.stdout, /^wrote a new index of \d+ packs/m);
    const still = await fails(['check'], env, 1, /missing from the index/);
    assert.match(still.stdout, /^ {2}lifeboat repair snapshots --forget$/m);

    // The parent snapshot says every file is unchanged, but its blobs are gone: read again.
    const backup = JSON.parse(
      (await ok(['backup', '--type', 'files', '--name', 'photos', '--path', photos, '--json'], env)).stdout,
    );
    assert.ok(
      backup[0].saved[0].backup.bytesAdded > 3 * MiB,
      `re-uploaded: ${backup[0].saved[0].backup.bytesAdded}`,
    );
    // The same blobs again: the older snapshots are whole again too, nothing to cut.
    await ok(['check', '--read-data'], env);
    assert.match((await ok(['repair', 'snapshots'], env)).stdout, /none lost data; nothing to do/);
    await restoresAs(env, ['latest', '--source', 'photos'], photos);
    await restoresAs(env, [photoSnaps[0].id], photos, (rel) => rel.startsWith('late'));
  });

  test('a deleted index file: check names what it affects; repair index rebuilds it from the packs', async () => {
    const { repo, env } = await copyRepo('deleted-index');
    const snaps = await snapshots(env);
    const [index] = (await repoFiles(repo)).filter((f) => f.kind === 'index');
    await fs.rm(nodePath.join(repo, index.rel));
    const check = await fails(['check'], env, 1, /is in no index, but snapshots use its blobs/);
    note(`check with a deleted index file:\n${check.stdout}`);
    const block = damageBlocks(check.stdout).find((b) => b.head.startsWith('damage: index:'));
    assert.ok(block, check.stdout);
    assert.match(block.head, /named by no index file/);
    assert.ok(block.snapshots.size > 0, 'the snapshots using the unindexed packs are named');
    for (const [id, s] of block.snapshots) {
      const snap = snaps.find((x) => x.id.startsWith(id))!;
      assert.equal(s.source, snap.source);
      assert.equal(s.time, shownTime(snap.time));
    }
    assert.match(check.stdout, /^ {2}lifeboat repair index$/m);
    assert.doesNotMatch(check.stdout, /repair snapshots/, 'nothing is lost: no snapshot needs cutting');

    assert.match(
      await dryRun(env, repo, ['repair', 'index']),
      /was in no index: would be indexed from its header/,
    );
    await ok(['repair', 'index'], env);
    await ok(['check', '--read-data'], env);
    assert.match((await ok(['repair', 'index'], env)).stdout, /the index is complete/);
    await restoresAs(env, ['latest', '--source', 'photos'], photos);
    await restoresAs(env, ['latest', '--source', 'notes'], notes);
  });

  test('a damaged index file: named with what it affects, still restorable; repair index replaces it', async () => {
    const { repo, env } = await copyRepo('damaged-index');
    const [index] = (await repoFiles(repo)).filter((f) => f.kind === 'index');
    await flipByte(nodePath.join(repo, index.rel), Math.floor(index.size / 2));
    const check = await fails(['check'], env, 1, new RegExp(index.name));
    const block = damageBlocks(check.stdout).find((b) =>
      b.head.startsWith(`damage: index ${index.name.slice(0, 8)}:`),
    );
    assert.ok(block, check.stdout);
    assert.ok(block.snapshots.size > 0, check.stdout);
    // Restores read the packs' headers meanwhile.
    await restoresAs(env, ['latest', '--source', 'photos'], photos);
    await dryRun(env, repo, ['repair', 'index']);
    const r = await ok(['repair', 'index'], env);
    assert.match(r.stdout, new RegExp(`^index ${index.name.slice(0, 8)} does not open: replaced$`, 'm'));
    assert.ok(!(await repoFiles(repo)).some((f) => f.name === index.name));
    await ok(['check', '--read-data'], env);
  });

  test('a damaged snapshot file: check says only that snapshot is lost; repair snapshots --forget removes it', async () => {
    const { repo, env } = await copyRepo('damaged-snapshot');
    const notesSnap = (await snapshots(env)).find((s) => s.source === 'notes')!;
    const file = (await repoFiles(repo)).find((f) => f.name === notesSnap.id)!;
    await flipByte(nodePath.join(repo, file.rel), Math.floor(file.size / 2));
    const check = await fails(['check'], env, 1, new RegExp(notesSnap.id));
    assert.match(
      check.stdout,
      new RegExp(
        `^damage: snapshot ${notesSnap.id.slice(0, 8)}: .*that snapshot is lost .*no other is affected$`,
        'm',
      ),
    );
    assert.match(check.stdout, /^ {2}lifeboat repair snapshots --forget$/m);
    const dry = await dryRun(env, repo, ['repair', 'snapshots', '--forget']);
    assert.match(dry, /does not open .*kept/);
    const r = await ok(['repair', 'snapshots', '--forget'], env);
    assert.match(
      r.stdout,
      new RegExp(`^snapshot ${notesSnap.id.slice(0, 8)} does not open .*: removed$`, 'm'),
    );
    await ok(['check', '--read-data'], env);
    assert.equal((await snapshots(env)).length, 2);
    await restoresAs(env, ['latest', '--source', 'photos'], photos);
  });

  test('a dump: check names the artifact; a cut artifact refuses to restore', async () => {
    const dir = nodePath.join(work, 'dump');
    await fs.mkdir(dir);
    const repo = nodePath.join(dir, 'repo');
    const env = repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD });
    const { default: Database } = await import('better-sqlite3');
    const dbPath = nodePath.join(dir, 'shop.db');
    const db = new Database(dbPath);
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
    const insert = db.prepare('INSERT INTO blobs (data) VALUES (?)');
    for (let i = 0; i < 40; i++) insert.run((await import('node:crypto')).randomBytes(50_000));
    db.close();
    await ok(['init'], env);
    await ok(['backup', '--type', 'sqlite', '--name', 'shop', '--path', dbPath], env);
    const [snap] = await snapshots(env);
    const pack = await biggestPack(repo);
    await flipByte(nodePath.join(repo, pack.rel), 100);
    const check = await fails(['check', '--read-data'], env, 1, /errors?/);
    const block = damageBlocks(check.stdout).find((b) =>
      b.head.startsWith(`damage: pack ${pack.name.slice(0, 8)}:`),
    );
    assert.ok(block, check.stdout);
    assert.deepEqual(block.snapshots.get(snap.id.slice(0, 8))?.paths, ['shop.db'], check.stdout);
    await ok(['repair', 'packs', pack.name.slice(0, 8)], env);
    await ok(['repair', 'snapshots', '--forget'], env);
    const r = await fails(
      ['restore', 'latest', '--to', nodePath.join(dir, 'out.db')],
      env,
      1,
      /artifact "shop.db" lost \d+ bytes to damage/,
    );
    assert.doesNotMatch(r.stderr, /run `?lifeboat check/);
  });

  test('repair packs killed with SIGKILL midway leaves the repository no worse; run again, it finishes', async () => {
    let killedAt = 0;
    for (const moment of ['pack', 'index'] as const) {
      const { repo, env } = await copyRepo(`killed-${moment}`);
      const notesSnap = (await snapshots(env)).find((s) => s.source === 'notes')!;
      const pack = await biggestPack(repo);
      await flipByte(nodePath.join(repo, pack.rel), 100);
      const before = damageBlocks((await fails(['check', '--read-data'], env, 1, /errors?/)).stdout);
      const cut = [...before[0].snapshots.values()][0].paths;

      const child = startCli(['repair', 'packs'], env);
      const done = collect(child);
      const killed = await signalWhen(repo, child, done, (e) => e.kind === moment, 'SIGKILL');
      const exit = await done;
      note(
        `repair packs, SIGKILL when a new ${moment} appeared: killed=${killed}, exit ${exit.code} ${exit.signal}`,
      );
      if (killed) killedAt++;

      // No worse: nothing but the damaged pack's blob is missing, intact snapshots restore.
      const check = await cli(['check', '--read-data'], env);
      note(`check after the kill: exit ${check.code}\n${check.stdout}`);
      for (const b of damageBlocks(check.stdout)) {
        for (const s of b.snapshots.values()) assert.deepEqual(s.paths, cut, 'more is damaged than before');
      }
      await restoresAs(env, [notesSnap.id], notes);
      await restoresAs(
        env,
        ['latest', '--source', 'photos', '--include', added],
        photos,
        (rel) => !rel.startsWith('late'),
      );

      await ok(['repair', 'packs'], env);
      await ok(['repair', 'snapshots', '--forget'], env);
      await ok(['check', '--read-data'], env);
      await ok(['backup', '--type', 'files', '--name', 'photos', '--path', photos], env);
      await ok(['check', '--read-data'], env);
      await restoresAs(env, ['latest', '--source', 'photos'], photos);
    }
    assert.ok(killedAt > 0, 'repair packs always finished before it could be killed');
  });

  test('every repair is refused while another process holds a lock', async () => {
    const { repo, env } = await copyRepo('locked');
    const held = await Repository.open(await openBackend(repo), PASSWORD);
    const lock = await held.lock(false, 'test backup');
    try {
      for (const args of [
        ['repair', 'index'],
        ['repair', 'packs'],
        ['repair', 'snapshots', '--forget'],
      ]) {
        for (const dry of [[], ['--dry-run']]) {
          const before = await listing(repo);
          await fails([...args, ...dry], env, 1, /locked by test backup/);
          assert.deepEqual(await listing(repo), before);
        }
      }
    } finally {
      await lock.release();
    }
    await ok(['repair', 'index'], env);
  });

  test('no output shows the password, and no error a stack trace', () => {
    session.assertNoLeaks(20);
  });
});
