import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SPARSE_BLOCK } from './files-sparse.js';
import { writeContent } from './files-write.js';

const dir = await mkdtemp(join(tmpdir(), 'lb-write-'));
after(() => rm(dir, { recursive: true, force: true }));

async function* pieces(...parts: Buffer[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

test('a file ending in zero blocks gets its whole length, with the tail left as a hole', async () => {
  const head = Buffer.alloc(SPARSE_BLOCK, 7);
  const tail = Buffer.alloc(64 * SPARSE_BLOCK); // zeros: skipped, then the length comes from truncate
  const path = join(dir, 'tail-hole');
  const size = head.length + tail.length;
  assert.equal(await writeContent(Buffer.from(path), pieces(head, tail), size, 'tail-hole', () => {}), size);
  const st = await stat(path);
  assert.equal(st.size, size);
  assert.ok(st.blocks * 512 < tail.length, `the zero tail is a hole (${st.blocks} blocks)`);
  assert.ok((await readFile(path)).equals(Buffer.concat([head, tail])));
});

test('a file ending in data needs no truncate, and short content is an integrity error', async () => {
  const data = Buffer.alloc(3 * SPARSE_BLOCK + 5, 1);
  const path = join(dir, 'data-end');
  await writeContent(Buffer.from(path), pieces(data), data.length, 'data-end', () => {});
  assert.ok((await readFile(path)).equals(data));
  await assert.rejects(
    writeContent(Buffer.from(join(dir, 'short')), pieces(data), data.length + 1, 'short', () => {}),
    { code: 'integrity' },
  );
});
