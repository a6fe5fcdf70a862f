import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { BlobRing } from './blob-ring.js';
import { RepoContentStore } from './content-store.js';
import { partsOf } from './repo-parts.js';
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
  partsOf(repo).writer.deferIndex = true;
  await repo.flush();
  const again = await Repository.open(createLocalBackend(dir), 'secret', { kdf });
  await again.loadIndex({ adoptOrphans: true });
  await new RepoContentStore(again).saveContent(chunks(data));
  await again.flush();
  assert.equal(again.bytesAdded < 10_000, true, `re-uploaded ${again.bytesAdded} bytes`);
});

test('lent blobs come in shared memory while the ring has room, and as their own buffers after', async () => {
  const { repo } = await fresh();
  const store = new RepoContentStore(repo);
  const data = randomBytes(6_000_000);
  const ref = await store.saveContent(chunks(data));
  await repo.flush();
  const ids = ref.chunks.map((c) => Buffer.from(c, 'hex'));
  assert.ok(ids.length >= 3, 'several chunks');

  // A reader that gives each blob back: everything goes through the ring (blobs under
  // 64 KiB, such as a stream's last chunk can be, are opened on the main thread).
  const ring = new BlobRing(16 * 1024 * 1024);
  const parts: Buffer[] = [];
  for await (const blob of repo.readBlobs(ids, 4, ring)) {
    assert.ok(ring.holds(blob) || blob.length < 64 * 1024);
    parts.push(Buffer.from(blob));
    ring.release(blob);
  }
  assert.ok(Buffer.concat(parts).equals(data));
  assert.equal(ring.held, 0);

  // A reader that keeps them all: once the ring is full, blobs get buffers of their own.
  const small = new BlobRing(Math.max(...parts.map((p) => p.length)));
  const kept: Buffer[] = [];
  for await (const blob of repo.readBlobs(ids, 4, small)) kept.push(blob);
  assert.ok(Buffer.concat(kept).equals(data));
  assert.ok(
    kept.some((b) => !small.holds(b)),
    'a fallback was needed',
  );
  assert.ok(kept.some((b) => small.holds(b)));
});

test('a damaged blob opened into shared memory is an integrity error', async () => {
  const { dir, repo } = await fresh();
  const store = new RepoContentStore(repo);
  const ref = await store.saveContent(chunks(randomBytes(1_500_000)));
  await repo.flush();
  const packs: string[] = [];
  for (const sub of await readdir(join(dir, 'data'))) {
    for (const f of await readdir(join(dir, 'data', sub))) packs.push(join(dir, 'data', sub, f));
  }
  for (const p of packs) {
    const bytes = await readFile(p);
    bytes[100] ^= 0xff; // inside the first blob
    await writeFile(p, bytes);
  }
  const again = await Repository.open(createLocalBackend(dir), 'secret', { kdf });
  await again.loadIndex();
  const ring = new BlobRing(8 * 1024 * 1024);
  await assert.rejects(
    (async () => {
      for await (const blob of again.readBlobs(
        ref.chunks.map((c) => Buffer.from(c, 'hex')),
        4,
        ring,
      )) {
        ring.release(blob);
      }
    })(),
    (err) => isLifeboatError(err) && err.code === 'integrity',
  );
});

test('blobs opened on the reading thread come back whole, and a damaged one is an integrity error', async () => {
  const { dir, repo } = await fresh();
  const store = new RepoContentStore(repo);
  const data = randomBytes(3_000_000);
  const ref = await store.saveContent(chunks(data));
  await repo.flush();
  const back: Buffer[] = [];
  for await (const c of store.readContent(ref.chunks, { sameThread: true })) back.push(c);
  assert.ok(Buffer.concat(back).equals(data));

  for (const sub of await readdir(join(dir, 'data'))) {
    for (const f of await readdir(join(dir, 'data', sub))) {
      const p = join(dir, 'data', sub, f);
      const bytes = await readFile(p);
      bytes[100] ^= 0xff; // inside the first blob
      await writeFile(p, bytes);
    }
  }
  const again = await Repository.open(createLocalBackend(dir), 'secret', { kdf });
  await again.loadIndex();
  const damagedStore = new RepoContentStore(again);
  await assert.rejects(
    (async () => {
      for await (const _ of damagedStore.readContent(ref.chunks, { sameThread: true })) {
      }
    })(),
    (err) => isLifeboatError(err) && err.code === 'integrity',
  );
  // Reported instead, with the other chunks intact.
  const lost: { start: number; end: number }[] = [];
  const kept: Buffer[] = [];
  for await (const c of damagedStore.readContent(ref.chunks, {
    sameThread: true,
    onDamaged: (d) => lost.push(d),
  }))
    kept.push(c);
  const got = Buffer.concat(kept);
  assert.equal(got.length, data.length);
  assert.ok(lost.length > 0);
  let at = 0;
  for (const d of lost) {
    assert.ok(got.subarray(at, d.start).equals(data.subarray(at, d.start)));
    assert.ok(got.subarray(d.start, d.end).equals(Buffer.alloc(d.end - d.start)));
    at = d.end;
  }
  assert.ok(got.subarray(at).equals(data.subarray(at)));
  await again.close();
});
