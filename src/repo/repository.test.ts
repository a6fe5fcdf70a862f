import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { RepoContentStore } from './content-store.js';
import { Repository } from './repository.js';

const kdf = { N: 1024, r: 8, p: 1 };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function fresh(): Promise<{ dir: string; repo: Repository }> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-repo-'));
  dirs.push(dir);
  const repo = await Repository.init(createLocalBackend(dir), 'secret', { kdf, packSize: 256 * 1024 });
  return { dir, repo };
}

async function* chunks(data: Buffer, piece = 100_000): AsyncIterable<Buffer> {
  for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
}

test('content written, flushed and read back through a fresh handle', async () => {
  const { dir, repo } = await fresh();
  const data = Buffer.concat([randomBytes(3_000_000), Buffer.alloc(2_000_000, 'text ')]);
  const store = new RepoContentStore(repo);
  const ref = await store.saveContent(chunks(data), { sha256: true });
  const tree = await store.saveTree({
    nodes: [{ name: 'f', type: 'file', content: ref.chunks, size: ref.size }],
  });
  await repo.flush();
  assert.equal(ref.size, data.length);

  const again = await Repository.open(createLocalBackend(dir), 'secret', { kdf });
  await again.loadIndex();
  const store2 = new RepoContentStore(again);
  const parts: Buffer[] = [];
  for await (const c of store2.readContent(ref.chunks)) parts.push(c);
  assert.ok(Buffer.concat(parts).equals(data));
  assert.equal((await store2.loadTree(tree)).nodes[0].name, 'f');
});

test('identical content is stored once', async () => {
  const { repo } = await fresh();
  const store = new RepoContentStore(repo);
  const data = randomBytes(2_000_000);
  await store.saveContent(chunks(data));
  await repo.flush();
  const before = repo.bytesAdded;
  await store.saveContent(chunks(data, 7777));
  await repo.flush();
  assert.equal(repo.bytesAdded, before);
});

test('a wrong password is refused with a clear error, and an added key opens the repository', async () => {
  const { dir, repo } = await fresh();
  await assert.rejects(Repository.open(createLocalBackend(dir), 'nope', { kdf }), (err) => {
    assert.ok(isLifeboatError(err));
    assert.equal(err.code, 'wrong_password');
    assert.match(err.message, /wrong password/);
    return true;
  });
  const id = await repo.addKey('second');
  const other = await Repository.open(createLocalBackend(dir), 'second', { kdf });
  assert.equal(other.keyId, id);
  assert.equal((await repo.listKeys()).length, 2);
  await other.removeKey(repo.keyId);
  await assert.rejects(Repository.open(createLocalBackend(dir), 'secret', { kdf }));
});

test('a missing repository says so and how to create one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-empty-'));
  dirs.push(dir);
  await assert.rejects(
    Repository.open(createLocalBackend(join(dir, 'none')), 'x', { kdf }),
    /no repository at .*lifeboat init/,
  );
});

test('packs left without an index by a killed backup are adopted and reused', async () => {
  const { dir, repo } = await fresh();
  const data = randomBytes(1_500_000);
  const store = new RepoContentStore(repo);
  await store.saveContent(chunks(data));
  // Upload packs but "die" before the index: flush packs with the index deferred.
  repo.deferIndex = true;
  await repo.flush();
  const again = await Repository.open(createLocalBackend(dir), 'secret', { kdf });
  await again.loadIndex({ adoptOrphans: true });
  await new RepoContentStore(again).saveContent(chunks(data));
  await again.flush();
  assert.equal(again.bytesAdded < 10_000, true, `re-uploaded ${again.bytesAdded} bytes`);
});
