import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEMORY_CHUNK_SIZE, MemoryContentStore } from './memory-content-store.js';

async function* pieces(data: Buffer, size: number) {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

test('content is cut into fixed chunks, deduplicated, and read back', async () => {
  const store = new MemoryContentStore();
  const data = Buffer.alloc(MEMORY_CHUNK_SIZE * 2 + 10, 7);
  const ref = await store.saveContent(pieces(data, 1000), { sha256: true });
  assert.equal(ref.size, data.length);
  assert.equal(ref.chunks.length, 3);
  assert.equal(ref.chunks[0], ref.chunks[1]);
  assert.equal(store.chunks.size, 2);
  assert.equal(store.bytesSaved, data.length);
  assert.ok(store.hasContent(ref.chunks));
  assert.ok(!store.hasContent(['00']));
  const back: Buffer[] = [];
  for await (const chunk of store.readContent(ref.chunks)) back.push(chunk);
  assert.ok(Buffer.concat(back).equals(data));
  assert.match(ref.sha256 ?? '', /^[0-9a-f]{64}$/);
});

test('trees round-trip and must be sorted by name bytes', async () => {
  const store = new MemoryContentStore();
  const id = await store.saveTree({
    nodes: [
      { name: 'B', type: 'file' },
      { name: 'a', type: 'file' },
    ],
  });
  assert.deepEqual(
    (await store.loadTree(id)).nodes.map((n) => n.name),
    ['B', 'a'],
  );
  await assert.rejects(
    store.saveTree({
      nodes: [
        { name: 'a', type: 'file' },
        { name: 'B', type: 'file' },
      ],
    }),
  );
});
