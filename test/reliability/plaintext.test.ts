/**
 * Reliability: nothing readable leaks into the repository. A tree full of a distinctive
 * marker (compressible text, a marker buried in incompressible bytes so it is stored without
 * compression, a file too small to chunk), with the marker in file, folder and symlink names,
 * the source folder's path and the source name, is backed up; then every byte of every file in
 * the repository is searched for the markers and the passwords, as text, UTF-16, hex and
 * base64.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, tempDir } from '../helpers/cli.js';
import { SeededRandom } from '../helpers/data-gen.js';
import { note } from '../helpers/repo-files.js';

const MiB = 1024 * 1024;

/** The byte patterns that would reveal `secret`: raw, UTF-16LE, hex, and base64 at each alignment. */
function encodings(secret: string): { label: string; bytes: Buffer }[] {
  const raw = Buffer.from(secret);
  const out = [
    { label: 'utf8', bytes: raw },
    { label: 'utf16le', bytes: Buffer.from(secret, 'utf16le') },
    { label: 'hex', bytes: Buffer.from(raw.toString('hex')) },
  ];
  for (let k = 0; k < 3; k++) {
    const b64 = raw.subarray(k).toString('base64');
    out.push({ label: `base64+${k}`, bytes: Buffer.from(b64.slice(0, b64.length - 4)) });
  }
  return out;
}

/** Every file under `dir` (temp files, locks and all), with its bytes. */
async function allFiles(dir: string): Promise<{ rel: string; data: Buffer }[]> {
  const out: { rel: string; data: Buffer }[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(nodePath.join(d, e.name), r);
      else if (e.isFile()) out.push({ rel: r, data: await fs.readFile(nodePath.join(d, e.name)) });
    }
  };
  await walk(dir, '');
  return out;
}

function findLeaks(files: { rel: string; data: Buffer }[], secrets: Record<string, string>): string[] {
  const leaks: string[] = [];
  for (const [what, secret] of Object.entries(secrets)) {
    for (const { label, bytes } of encodings(secret)) {
      for (const f of files) {
        const at = f.data.indexOf(bytes);
        if (at >= 0) leaks.push(`${what} (${label}) in ${f.rel} at byte ${at}`);
      }
    }
  }
  return leaks;
}

describe('no plaintext in the repository', { timeout: 120_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  const tag = randomBytes(6).toString('hex');
  const secrets = {
    content: `LIFEBOAT-PLAINTEXT-MARKER-${tag}`,
    'file name': `payroll-LIFEBOAT-FILENAME-${tag}`,
    'folder name': `LIFEBOAT-DIRNAME-${tag}`,
    'symlink target': `LIFEBOAT-LINKTARGET-${tag}`,
    'source path': `LIFEBOAT-SRCPATH-${tag}`,
    'source name': `app-${tag}-LIFEBOAT-SOURCE`,
    password: `LIFEBOAT-PASSWORD-${tag}`,
    'second password': `LIFEBOAT-SECOND-PASSWORD-${tag}`,
  };
  let src: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-plaintext-'));
    src = nodePath.join(work, secrets['source path']);
    repo = nodePath.join(work, 'repo');
    env = repoEnv(repo, { LIFEBOAT_PASSWORD: secrets.password });
    const dir = nodePath.join(src, secrets['folder name']);
    await fs.mkdir(dir, { recursive: true });
    const line = `${secrets.content} account=12345 balance=67890\n`;
    await fs.writeFile(nodePath.join(dir, `${secrets['file name']}.txt`), line.repeat(50_000));
    // Incompressible bytes with the marker inside: stored raw, so only encryption hides it.
    const rnd = new SeededRandom(tag);
    const noisy = rnd.bytes(3 * MiB);
    for (let at = 1000; at < noisy.length - 100; at += 250_000) noisy.write(secrets.content, at);
    await fs.writeFile(nodePath.join(src, 'noisy.bin'), noisy);
    await fs.writeFile(nodePath.join(src, 'tiny.txt'), secrets.content);
    await fs.symlink(`../${secrets['symlink target']}/x`, nodePath.join(src, 'link'));
  });

  after(() => cleanup());

  test('the markers are in the source (the scan works) but nowhere in the repository', async () => {
    const inSource = findLeaks(await allFiles(src), { content: secrets.content });
    assert.ok(inSource.length >= 3, `the scan should find the marker in the source: ${inSource}`);

    await lifeboat(['init'], env);
    await lifeboat(['backup', '--type', 'files', '--name', secrets['source name'], '--path', src], env);
    await lifeboat(['key', 'add'], { ...env, LIFEBOAT_NEW_PASSWORD: secrets['second password'] });
    // A second snapshot, the parent path through the trees, and a check that writes a lock.
    await fs.writeFile(nodePath.join(src, 'tiny2.txt'), `${secrets.content}\n${secrets.content}\n`);
    await lifeboat(['backup', '--type', 'files', '--name', secrets['source name'], '--path', src], env);
    await lifeboat(['check', '--read-data'], env);

    const files = await allFiles(repo);
    const leaks = findLeaks(files, secrets);
    note(`scanned ${files.length} files, ${files.reduce((n, f) => n + f.data.length, 0)} bytes`);
    assert.deepEqual(leaks, [], 'plaintext found in the repository');

    // And the data is really in there.
    const to = nodePath.join(work, 'restored');
    await lifeboat(['restore', 'latest', '--to', to], {
      ...env,
      LIFEBOAT_PASSWORD: secrets['second password'],
    });
    assert.deepEqual(await compareTrees(src, to), []);
  });
});
