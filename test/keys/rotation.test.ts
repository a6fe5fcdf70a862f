// Data-key rotation through the real CLI: rotate, re-encrypt (killed and resumed), retire.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
let env: NodeJS.ProcessEnv;
const src = () => join(dir, 'src');

before(async () => {
  ({ dir, cleanup } = await tempDir('lifeboat-rotation-'));
  env = repoEnv(join(dir, 'repo'), { LIFEBOAT_REENCRYPT_BATCH_BYTES: String(2 * 1024 * 1024) });
  await mkdir(src(), { recursive: true });
  // Many small packs: 40 files of 1 MiB random data, packs of the default size hold them all,
  // so use several backups to get several packs and index files.
  await lifeboat(['init'], env);
});
after(async () => cleanup());

async function epochsOf(): Promise<number[]> {
  const out = await lifeboat(['key', 'list', '--json'], env);
  return JSON.parse(out.stdout).epochs;
}

async function packEpochs(): Promise<number[]> {
  // In name order, so two calls over the same packs compare equal.
  const root = join(dir, 'repo', 'data');
  const epochs: number[] = [];
  for (const sub of (await readdir(root)).sort()) {
    for (const name of (await readdir(join(root, sub))).sort()) {
      if (name.startsWith('.')) continue; // a save in progress
      const data = await readFile(join(root, sub, name));
      const n = data.readUInt32LE(data.length - 4);
      epochs.push(data.readUInt32LE(data.length - 4 - n));
    }
  }
  return epochs;
}

test('rotate, back up, re-encrypt with kills in between, retire: every snapshot restores', async () => {
  const snapshots: { id: string; copy: string }[] = [];
  for (let day = 0; day < 4; day++) {
    for (let i = 0; i < 6; i++) await writeFile(join(src(), `day${day}-${i}.bin`), randomBytes(700_000));
    await writeFile(join(src(), 'notes.txt'), `day ${day}\n`.repeat(1000));
    const r = await lifeboat(['backup', '--json', '--type', 'files', '--name', 'data', '--path', src()], env);
    const id = JSON.parse(r.stdout)[0].snapshots[0] as string;
    const copy = join(dir, `expected-${day}`);
    await lifeboat(['restore', id, '--to', copy], env);
    snapshots.push({ id, copy });
    if (day === 1) {
      const rot = await lifeboat(['key', 'rotate'], env);
      assert.match(rot.stdout, /data-key epoch 1 is now current/);
    }
  }
  assert.deepEqual(await epochsOf(), [0, 1]);
  assert.ok((await packEpochs()).includes(0), 'old packs are still under epoch 0');

  // Retiring epoch 0 while it is in use is refused and says what still uses it.
  const refused = await runCli(['key', 'retire', '0'], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /key epoch 0 still seals \d+ packs/);

  // Re-encrypt, killing it several times as soon as it has written something.
  for (let kill = 0; kill < 3; kill++) {
    const before = (await packEpochs()).join();
    const child = startCli(['key', 'rotate', '--reencrypt'], env);
    let exited = false;
    const closed = new Promise((r) => child.once('close', r)).then(() => {
      exited = true;
    });
    // Kill as soon as the set of packs changes (a new pack written or an old one removed).
    const deadline = Date.now() + 20_000;
    while (!exited && Date.now() < deadline && (await packEpochs().catch(() => [])).join() === before) {
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await closed;
    const check = await runCli(['check'], env);
    assert.equal(check.code, 0, `check after kill ${kill}: ${check.stdout}${check.stderr}`);
  }
  const done = await lifeboat(['key', 'rotate', '--reencrypt'], env);
  assert.match(done.stdout, /re-encrypted under epoch \d+/);
  const epochs = await epochsOf();
  const current = Math.max(...epochs);
  assert.deepEqual([...new Set(await packEpochs())], [current], 'every pack is under the current epoch');

  for (const e of epochs.filter((x) => x !== current)) await lifeboat(['key', 'retire', String(e)], env);
  assert.deepEqual(await epochsOf(), [current]);
  // Prove nothing needs the old keys: every file verifies and every snapshot restores.
  const check = await lifeboat(['check', '--read-data'], env);
  assert.match(check.stdout, /no errors: 4 snapshots/);
  for (const [i, s] of snapshots.entries()) {
    // Ids change on re-encryption; the old id still finds the snapshot.
    const out = join(dir, `restored-${i}`);
    await lifeboat(['restore', s.id.slice(0, 12), '--to', out], env);
    assert.deepEqual(await compareTrees(s.copy, out), []);
  }
});

test('no key material or password in output, errors or stored files in plaintext', async () => {
  const outputs: string[] = [];
  for (const args of [['key', 'list'], ['key', 'rotate'], ['snapshots'], ['key', 'retire', '99']]) {
    const r = await runCli(args, env);
    outputs.push(r.stdout, r.stderr);
  }
  const all = outputs.join('\n');
  assert.doesNotMatch(all, /test-password/);
  const config = await readFile(join(dir, 'repo', 'config'));
  assert.equal(config.includes(Buffer.from('"keys"')), false, 'the config is sealed');
  const hash = createHash('sha256').update('test-password').digest();
  assert.equal(config.includes(hash), false);
});
