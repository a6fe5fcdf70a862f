import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../clock.js';
import { isLifeboatError } from '../errors.js';
import { MemoryContentStore } from '../testing/memory-content-store.js';
import { lendArtifact, loadArtifacts, readArtifact, saveArtifacts, writeArtifactToFile } from './artifact.js';

async function* from(...parts: (string | Buffer)[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

const big = Buffer.alloc(200_000, 7); // several memory-store chunks

describe('artifacts', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-artifact-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores artifacts as a sorted tree of regular files with size and sha256', async () => {
    const store = new MemoryContentStore();
    const clock = new TestClock('2026-03-01T00:00:00Z');
    const root = await saveArtifacts(
      store,
      [
        { name: 'zeta.rdb', stream: from('z') },
        { name: 'alpha.dump', stream: from('hello ', 'world'), mode: 0o640 },
      ],
      clock,
    );
    const nodes = await loadArtifacts(store, root);
    assert.deepEqual(
      nodes.map((n) => n.name),
      ['alpha.dump', 'zeta.rdb'],
    );
    assert.equal(nodes[0].type, 'file');
    assert.equal(nodes[0].mode, 0o640);
    assert.equal(nodes[1].mode, 0o600);
    assert.equal(nodes[0].size, 11);
    assert.equal(nodes[0].sha256, createHash('sha256').update('hello world').digest('hex'));
    assert.equal(nodes[0].mtimeNs, (BigInt(clock.now().getTime()) * 1_000_000n).toString());
    assert.equal((await collect(readArtifact(store, nodes[0]))).toString(), 'hello world');
  });

  it('refuses duplicate or path-like names', async () => {
    const store = new MemoryContentStore();
    await assert.rejects(saveArtifacts(store, [{ name: 'a/b', stream: from('x') }]), /not a plain file name/);
    await assert.rejects(
      saveArtifacts(store, [
        { name: 'a', stream: from('x') },
        { name: 'a', stream: from('y') },
      ]),
      /given twice/,
    );
  });

  it('fails a read whose content does not match, naming the artifact', async () => {
    const store = new MemoryContentStore();
    const root = await saveArtifacts(store, [{ name: 'app.db', stream: from(big) }]);
    const [node] = await loadArtifacts(store, root);
    const damaged = Buffer.from(store.chunks.get(node.content![1])!);
    damaged[5] ^= 1;
    store.chunks.set(node.content![1], damaged);
    await assert.rejects(collect(readArtifact(store, node)), (err: unknown) => {
      assert.ok(isLifeboatError(err));
      assert.equal(err.code, 'integrity');
      assert.match(err.message, /artifact "app\.db" does not match its recorded sha256/);
      return true;
    });
    await assert.rejects(collect(readArtifact(store, { ...node, size: big.length + 1 })), (err: unknown) => {
      assert.ok(isLifeboatError(err));
      assert.equal(err.code, 'integrity');
      assert.match(err.message, /artifact "app\.db" read back/);
      return true;
    });
  });

  it('lends an artifact without the whole-file SHA-256: the size is still checked', async () => {
    const store = new MemoryContentStore();
    const root = await saveArtifacts(store, [{ name: 'base.tar', stream: from(big) }]);
    const [node] = await loadArtifacts(store, root);
    const wrongHash = { ...node, sha256: '0'.repeat(64) };
    // A store without lendContent is read with readContent; release() is then harmless.
    const lent = lendArtifact(store, wrongHash);
    const chunks: Buffer[] = [];
    for await (const chunk of lent) {
      chunks.push(Buffer.from(chunk));
      lent.release(chunk);
    }
    assert.deepEqual(Buffer.concat(chunks), big);
    await assert.rejects(collect(readArtifact(store, wrongHash)), /does not match its recorded sha256/);
    await assert.rejects(
      collect(lendArtifact(store, { ...node, size: big.length - 1 })),
      /artifact "base\.tar" read back/,
    );
  });

  it('writes an artifact to a file, and nothing when it fails verification', async () => {
    const store = new MemoryContentStore();
    const root = await saveArtifacts(store, [{ name: 'app.db', stream: from(big) }]);
    const [node] = await loadArtifacts(store, root);
    let counted = 0;
    const out = join(dir, 'restored.db');
    await writeArtifactToFile(store, node, out, (n) => {
      counted += n;
    });
    assert.deepEqual(await readFile(out), big);
    assert.equal(counted, big.length);

    const bad = join(dir, 'bad.db');
    await assert.rejects(writeArtifactToFile(store, { ...node, sha256: '0'.repeat(64) }, bad), /sha256/);
    const left = await readdir(dir);
    assert.deepEqual(left, ['restored.db']);
  });
});
