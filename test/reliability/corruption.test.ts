/**
 * Reliability: one flipped byte anywhere in the repository is found. For every file (config,
 * keys, snapshots, indexes, packs) and a few positions in each, `check --read-data` must fail
 * and name the file, and a restore must either fail or produce exactly the original data,
 * never exit 0 with something else. A flip inside a pack's blob region must make the restore
 * of the snapshot using that blob fail, naming the pack.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { type CliResult, lifeboat, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';
import {
  collect,
  flipByte,
  note,
  type RepoFile,
  repoFiles,
  STACK_LINE,
  signalWhen,
} from '../helpers/repo-files.js';

const MiB = 1024 * 1024;

interface Flip {
  file: RepoFile;
  offset: number;
  where: string;
  /** Inside a pack, before its header: the sealed bytes of some blob. */
  inBlob: boolean;
}

/** The byte range of a pack's blobs: everything before the sealed header and its length. */
async function blobRegionEnd(path: string, size: number): Promise<number> {
  const fh = await fs.open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, size - 4);
    return size - 4 - b.readUInt32LE(0);
  } finally {
    await fh.close();
  }
}

function output(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

describe('a flipped byte in any repository file', { timeout: 240_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  /** source name -> the folder its only snapshot was taken of */
  const sources = new Map<string, string>();
  let restores = 0;

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-flip-'));
    repo = nodePath.join(work, 'repo');
    env = repoEnv(repo);
    const photos = nodePath.join(work, 'photos');
    const notes = nodePath.join(work, 'notes');
    await writeTree(photos, { seed: 'flip-photos', bytes: 3 * MiB, files: 24, randomShare: 0.8 });
    await writeTree(notes, { seed: 'flip-notes', bytes: 1 * MiB, files: 16, randomShare: 0.3 });
    sources.set('photos', photos);
    sources.set('notes', notes);
    await lifeboat(['init'], env);
    for (const [name, path] of sources) {
      await lifeboat(['backup', '--type', 'files', '--name', name, '--path', path], env);
    }
    const clean = await runCli(['check', '--read-data'], env);
    assert.equal(clean.code, 0, output(clean));
  });

  after(() => cleanup());

  /** Restores every source's snapshot; each must fail or equal its source. Returns the failures. */
  async function restoreAll(): Promise<{ source: string; result: CliResult }[]> {
    const failures: { source: string; result: CliResult }[] = [];
    for (const [name, path] of sources) {
      const to = nodePath.join(work, `restore-${restores++}`);
      const r = await runCli(['restore', 'latest', '--source', name, '--to', to], env);
      if (r.code === 0) {
        const diffs = await compareTrees(path, to);
        assert.deepEqual(diffs, [], `restore of ${name} exited 0 but its output differs from the source`);
      } else {
        assert.doesNotMatch(r.stderr, STACK_LINE, 'a damaged repository is no reason for a stack trace');
        failures.push({ source: name, result: r });
      }
      await fs.rm(to, { recursive: true, force: true });
    }
    return failures;
  }

  async function flips(): Promise<Flip[]> {
    const out: Flip[] = [];
    for (const file of await repoFiles(repo)) {
      const positions = new Map<number, string>([
        [0, 'start'],
        [Math.floor(file.size / 2), 'middle'],
        [file.size - 1, 'end'],
      ]);
      const regionEnd =
        file.kind === 'pack' ? await blobRegionEnd(nodePath.join(repo, file.rel), file.size) : 0;
      for (const [offset, where] of positions) out.push({ file, offset, where, inBlob: offset < regionEnd });
    }
    return out;
  }

  test('the repository has every kind of file to damage', async () => {
    const kinds = new Set((await repoFiles(repo)).map((f) => f.kind));
    for (const k of ['config', 'key', 'snapshot', 'index', 'pack'] as const) assert.ok(kinds.has(k), k);
    assert.ok((await repoFiles(repo)).filter((f) => f.kind === 'snapshot').length >= 2);
    assert.ok((await repoFiles(repo)).filter((f) => f.kind === 'index').length >= 2);
  });

  test('check --read-data fails and names the file; restores fail or are exact', async () => {
    const all = await flips();
    const rows: string[] = [];
    for (const flip of all) {
      const { file, offset, where } = flip;
      const label = `${file.rel} @${offset} (${where}, ${file.size} bytes)`;
      const unflip = await flipByte(nodePath.join(repo, file.rel), offset);
      try {
        const check = await runCli(['check', '--read-data'], env);
        const text = output(check);
        assert.notEqual(check.code, 0, `check passed with ${label} damaged:\n${text}`);
        assert.doesNotMatch(check.stderr, STACK_LINE, `stack trace for ${label}`);
        const firstLine = check.stderr.trim().split('\n')[0] ?? '';
        if (file.kind === 'config') {
          // The repository cannot be opened: the message must say so, about the config or the password.
          assert.match(check.stderr, /config.*damaged|damaged.*config|wrong password/i, `${label}: ${text}`);
        } else if (file.kind === 'key') {
          const named = check.stderr.includes(file.name.slice(0, 8));
          assert.ok(named || /wrong password/i.test(check.stderr), `${label}: ${text}`);
        } else {
          assert.ok(
            text.includes(file.name) || text.includes(file.name.slice(0, 8)),
            `check with ${label} damaged does not name it:\n${text}`,
          );
        }
        rows.push(`${label}: check exit ${check.code}: ${firstLine}`);

        const failures = await restoreAll();
        if (flip.inBlob) {
          assert.ok(failures.length > 0, `every restore succeeded with a blob in ${label} damaged`);
          for (const f of failures) {
            assert.ok(
              f.result.stderr.includes(file.name.slice(0, 8)),
              `restore of ${f.source} with ${label} damaged does not name the pack:\n${f.result.stderr}`,
            );
          }
        }
        for (const f of failures) {
          rows.push(`  restore ${f.source}: exit ${f.result.code}: ${f.result.stderr.trim().split('\n')[0]}`);
        }
      } finally {
        await unflip();
      }
    }
    note(rows.join('\n'));
    const blobFlips = all.filter((f) => f.inBlob).length;
    assert.ok(blobFlips >= 4, `only ${blobFlips} flips landed in blob regions`);
    const check = await runCli(['check', '--read-data'], env);
    assert.equal(check.code, 0, `the repository should be whole again: ${output(check)}`);
  });

  test('a damaged key file is reported as damaged, not as a wrong password', async () => {
    // Key files are named by the SHA-256 of their bytes (format.md, "Storage id"), so damage
    // can be told apart from a wrong password without any key.
    const key = (await repoFiles(repo)).find((f) => f.kind === 'key')!;
    const problems: string[] = [];
    for (const offset of [Math.floor(key.size / 2), key.size - 40]) {
      const unflip = await flipByte(nodePath.join(repo, key.rel), offset);
      try {
        const r = await runCli(['snapshots'], env);
        assert.notEqual(r.code, 0);
        if (/wrong password/i.test(r.stderr) || !r.stderr.includes(key.name.slice(0, 8))) {
          problems.push(`byte ${offset} of ${key.rel} flipped: ${r.stderr.trim()}`);
        }
      } finally {
        await unflip();
      }
    }
    assert.deepEqual(problems, [], 'the message blames the password for a damaged key file');
  });

  test('a damaged key file does not lock out the other passwords, and check names it', async () => {
    // Two passwords; damage either key file (its first byte, so it is not JSON any more) and
    // the other password must still open the repository.
    const [first] = (await repoFiles(repo)).filter((f) => f.kind === 'key');
    await lifeboat(['key', 'add'], { ...env, LIFEBOAT_NEW_PASSWORD: 'second-password' });
    const second = (await repoFiles(repo)).find((f) => f.kind === 'key' && f.name !== first.name)!;
    const problems: string[] = [];
    for (const [damaged, password] of [
      [first, 'second-password'],
      [second, 'test-password'],
    ] as const) {
      const unflip = await flipByte(nodePath.join(repo, damaged.rel), 0);
      try {
        const r = await runCli(['check', '--read-data'], { ...env, LIFEBOAT_PASSWORD: password });
        const text = output(r);
        note(`key ${damaged.name.slice(0, 8)} damaged, other password: exit ${r.code}\n${text.trim()}`);
        if (!/no errors|errors?:/.test(r.stdout))
          problems.push(`could not open with the other password: ${text.trim()}`);
        else {
          assert.notEqual(r.code, 0, 'check passed with a damaged key file');
          assert.ok(text.includes(damaged.name.slice(0, 8)), `check does not name the key file: ${text}`);
        }
      } finally {
        await unflip();
      }
    }
    assert.deepEqual(problems, [], 'one damaged key file locks out a password whose own key is intact');
  });

  test('a damaged lock left by a killed backup is named, and `unlock --force` removes it', async () => {
    // A fresh tree, so the backup has real work to do after its lock: it is killed at the lock.
    const bait = nodePath.join(work, 'bait');
    await writeTree(bait, { seed: 'flip-bait', bytes: 16 * MiB, files: 8, randomShare: 1 });
    for (let attempt = 0; ; attempt++) {
      const child = startCli(['backup', '--type', 'files', '--name', `bait-${attempt}`, '--path', bait], env);
      const done = collect(child);
      const killed = await signalWhen(repo, child, done, (e) => e.kind === 'lock', 'SIGKILL');
      await done;
      if (killed) break;
      assert.ok(attempt < 3, 'the backup kept finishing before it could be killed');
    }
    const [lock] = (await repoFiles(repo)).filter((f) => f.kind === 'lock');
    assert.ok(lock, 'the killed backup left no lock');
    await flipByte(nodePath.join(repo, lock.rel), Math.floor(lock.size / 2));

    const check = await runCli(['check'], env);
    note(`check with a damaged lock: exit ${check.code}: ${check.stderr.trim()}`);
    assert.notEqual(check.code, 0);
    assert.ok(check.stderr.includes(lock.name.slice(0, 8)), `check does not name the lock: ${check.stderr}`);
    const unlock = await runCli(['unlock', '--force'], env);
    note(`unlock --force: exit ${unlock.code}: ${unlock.stdout.trim()} ${unlock.stderr.trim()}`);
    const left = (await repoFiles(repo)).filter((f) => f.kind === 'lock');
    if (left.length > 0) await fs.rm(nodePath.join(repo, lock.rel)); // leave the repository usable
    assert.equal(unlock.code, 0, `unlock --force cannot remove a damaged lock: ${unlock.stderr}`);
    assert.deepEqual(left, [], 'the damaged lock is still there after unlock --force');
    const after = await runCli(['check', '--read-data'], env);
    assert.equal(after.code, 0, output(after));
  });
});
