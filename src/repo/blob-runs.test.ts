import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RUN_BYTES, MAX_RUN_GAP, planRuns, readInRuns, type Stored } from './blob-runs.js';

interface E extends Stored {
  name: string;
}

const at = (name: string, pack: string, offset: number, length: number): E => ({
  name,
  pack,
  offset,
  length,
});

test('blobs stored next to each other are one run; a gap, another pack or the size cap starts a new one', () => {
  const entries = [
    at('a', 'p1', 0, 100),
    at('b', 'p1', 100, 50),
    at('c', 'p1', 150 + MAX_RUN_GAP, 10), // a gap it may skip
    at('d', 'p1', 160 + 2 * MAX_RUN_GAP + 1, 10), // too far
    at('e', 'p2', 170 + 2 * MAX_RUN_GAP + 1, 10), // another pack
    at('f', 'p2', 0, 10), // behind the run's start
    at('g', 'p2', 10, MAX_RUN_BYTES - 5), // over the cap with f
    undefined,
    at('h', 'p2', 5 + MAX_RUN_BYTES, 5), // up to the cap with g
  ];
  const { items, runs } = planRuns(entries);
  assert.deepEqual(
    runs.map((r) => [r.pack, r.offset, r.length, r.left]),
    [
      ['p1', 0, 160 + MAX_RUN_GAP, 3],
      ['p1', 160 + 2 * MAX_RUN_GAP + 1, 10, 1],
      ['p2', 170 + 2 * MAX_RUN_GAP + 1, 10, 1],
      ['p2', 0, 10, 1],
      ['p2', 10, MAX_RUN_BYTES, 2],
    ],
  );
  assert.deepEqual(
    items.map((i) => i.at),
    [0, 100, 150 + MAX_RUN_GAP, 0, 0, 0, 0, 0, MAX_RUN_BYTES - 5],
  );
  assert.equal(items[7].run, undefined);
});

/** A pack store in memory: every blob's bytes are its name repeated; counts the reads. */
function store(entries: (E | undefined)[]) {
  const packs = new Map<string, Buffer>();
  for (const e of entries) {
    if (!e) continue;
    const size = Math.max(packs.get(e.pack)?.length ?? 0, e.offset + e.length);
    const buf = Buffer.alloc(size, 0x2e);
    packs.get(e.pack)?.copy(buf);
    buf.fill(e.name, e.offset, e.offset + e.length);
    packs.set(e.pack, buf);
  }
  const reads: string[] = [];
  return {
    reads,
    load: async (pack: string, offset: number, length: number) => {
      reads.push(`${pack}@${offset}+${length}`);
      const p = packs.get(pack);
      if (!p || offset + length > p.length) throw new Error(`${pack} is missing or too short`);
      return p.subarray(offset, offset + length);
    },
  };
}

test('the blobs come back in order, each from its own bytes, with one read per run', async () => {
  const entries = [
    at('a', 'p1', 0, 3),
    at('b', 'p1', 3, 4),
    at('c', 'p2', 0, 2),
    undefined,
    at('d', 'p1', 10, 1),
    at('e', 'p1', 11, 2),
  ];
  const s = store(entries);
  const out: string[] = [];
  for await (const b of readInRuns(
    entries,
    {
      load: s.load,
      open: async (e, sealed) => Buffer.from(`${e.name}:${sealed.toString()}`),
      single: async (i) => Buffer.from(`single ${i}`),
    },
    2,
  )) {
    out.push(b.toString());
  }
  assert.deepEqual(out, ['a:aaa', 'b:bbbb', 'c:cc', 'single 3', 'd:d', 'e:ee']);
  assert.deepEqual(s.reads, ['p1@0+7', 'p2@0+2', 'p1@10+3']);
});

test('a failed read fails the blobs of its run when their turn comes, not before', async () => {
  const entries = [at('a', 'p1', 0, 3), at('b', 'p2', 0, 3)];
  const s = store([entries[0]]);
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const b of readInRuns(
      entries,
      { load: s.load, open: async (_e, sealed) => sealed, single: async () => Buffer.alloc(0) },
      4,
    ))
      got.push(b.toString());
  }, /p2/);
  assert.deepEqual(got, ['aaa']);
});

test('at most `ahead` blobs are opened at once', async () => {
  const entries = Array.from({ length: 20 }, (_, i) => at(String.fromCharCode(97 + i), 'p', i * 2, 2));
  const s = store(entries);
  let open = 0;
  let most = 0;
  let n = 0;
  for await (const _ of readInRuns(
    entries,
    {
      load: s.load,
      open: async (_e, sealed) => {
        most = Math.max(most, ++open);
        await new Promise((r) => setTimeout(r, 1));
        open--;
        return sealed;
      },
      single: async () => Buffer.alloc(0),
    },
    3,
  ))
    n++;
  assert.equal(n, 20);
  assert.ok(most <= 3, `${most} opened at once`);
  assert.deepEqual(s.reads, ['p@0+40']);
});
