import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BSON, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { type ArchiveCollection, ArchiveFormatError, readArchive, writeArchive } from './mongo-archive.js';
import { EcmaCrc64 } from './mongo-crc64.js';

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}
async function* pieces(b: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
async function* docs(list: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* list;
}

// BSON written out by hand, element by element, independent of the bson package.
const cstr = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
const i64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
};
const elString = (k: string, v: string) =>
  Buffer.concat([Buffer.from([0x02]), cstr(k), i32(Buffer.byteLength(v) + 1), cstr(v)]);
const elInt32 = (k: string, v: number) => Buffer.concat([Buffer.from([0x10]), cstr(k), i32(v)]);
const elInt64 = (k: string, v: bigint) => Buffer.concat([Buffer.from([0x12]), cstr(k), i64(v)]);
const elBool = (k: string, v: boolean) =>
  Buffer.concat([Buffer.from([0x08]), cstr(k), Buffer.from([v ? 1 : 0])]);
const doc = (...elements: Buffer[]) => {
  const body = Buffer.concat([...elements, Buffer.from([0])]);
  return Buffer.concat([i32(body.length + 4), body]);
};

describe('mongodump archive', () => {
  it('computes the CRC-64 mongodump uses (Go ECMA table: CRC-64/XZ)', () => {
    const crc = new EcmaCrc64().update(Buffer.from('123456789')).value();
    assert.equal(BigInt.asUintN(64, crc).toString(16), '995dc9bbdf1939fa');
  });

  it('writes a tiny archive byte for byte as specified', async () => {
    const c: ArchiveCollection = {
      db: 'app',
      collection: 'users',
      metadata: '{"indexes":[]}',
      type: 'collection',
    };
    const d = doc(elInt32('_id', 1));
    const out = await collect(
      writeArchive({ serverVersion: '7.0.0', toolVersion: 'lifeboat test' }, [c], () => docs([d])),
    );
    const crc = BigInt.asIntN(64, new EcmaCrc64().update(d).value());
    const expected = Buffer.concat([
      Buffer.from([0x6d, 0xe2, 0x99, 0x81]), // magic 0x8199e26d, little-endian
      doc(
        elInt32('concurrent_collections', 1),
        elString('version', '0.1'),
        elString('server_version', '7.0.0'),
        elString('tool_version', 'lifeboat test'),
      ),
      doc(
        elString('db', 'app'),
        elString('collection', 'users'),
        elString('metadata', '{"indexes":[]}'),
        elInt32('size', 0),
        elString('type', 'collection'),
      ),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      doc(elString('db', 'app'), elString('collection', 'users'), elBool('EOF', false), elInt64('CRC', 0n)),
      d,
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      doc(elString('db', 'app'), elString('collection', 'users'), elBool('EOF', true), elInt64('CRC', crc)),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
    ]);
    assert.equal(out.toString('hex'), expected.toString('hex'));
    // The document is {_id: 1}: length 14, int32 element "_id" = 1, end
    assert.equal(d.toString('hex'), '0e000000105f6964000100000000');
  });

  it('reads back what it wrote: metadata, every BSON type, empty collections, views', async () => {
    const all = {
      'shop.orders': Array.from({ length: 2500 }, (_, i) =>
        BSON.serialize({
          _id: new ObjectId(i.toString(16).padStart(24, '0')),
          i: new Int32(i),
          d: new Double(i / 2),
          l: Long.fromBigInt(BigInt(i) * 10_000_000_000n),
          dec: Decimal128.fromString(`${i}.25`),
          ts: new Timestamp({ t: i, i: 1 }),
          when: new Date(1_700_000_000_000 + i),
          tags: ['a', 'b', { nested: [i, null] }],
          bin: new Uint8Array([i & 255, 0, 255]),
          text: 'x'.repeat(i % 100),
        }),
      ),
      'shop.empty': [] as Uint8Array[],
      'crm.people': [BSON.serialize({ _id: 'p1', name: 'Ada', 'a.b': 1, $odd: true })],
    };
    const collections: ArchiveCollection[] = [
      {
        db: 'crm',
        collection: 'people',
        metadata: '{"indexes":[{"v":{"$numberInt":"2"}}]}',
        type: 'collection',
      },
      { db: 'shop', collection: 'empty', metadata: '{}', type: 'collection' },
      { db: 'shop', collection: 'orders', metadata: '{"options":{"capped":true}}', type: 'collection' },
      { db: 'shop', collection: 'orders_view', metadata: '{"options":{"viewOn":"orders"}}', type: 'view' },
    ];
    const written: Record<string, number> = {};
    const archive = await collect(
      writeArchive(
        { serverVersion: '7.0.0', toolVersion: 't' },
        collections,
        (c) => docs(all[`${c.db}.${c.collection}` as keyof typeof all] ?? []),
        (c, w) => {
          written[`${c.db}.${c.collection}`] = w.documents;
        },
      ),
    );
    assert.deepEqual(written, { 'crm.people': 1, 'shop.empty': 0, 'shop.orders': 2500 });
    const read: Record<string, Buffer[]> = {};
    const ends: Record<string, number> = {};
    const prelude = await readArchive(pieces(archive, 1000), {
      document: (ns, d) => {
        read[ns] = [...(read[ns] ?? []), d];
      },
      end: (ns, n) => {
        ends[ns] = n;
      },
    });
    assert.deepEqual(prelude.collections, collections);
    assert.equal(prelude.header.serverVersion, '7.0.0');
    assert.equal(prelude.header.formatVersion, '0.1');
    assert.deepEqual(ends, written);
    for (const [ns, list] of Object.entries(all)) {
      assert.deepEqual(
        (read[ns] ?? []).map((b) => b.toString('hex')),
        list.map((b) => Buffer.from(b).toString('hex')),
        ns,
      );
    }
  });

  it('refuses damaged archives: wrong magic, a flipped byte (CRC), truncation, a missing collection', async () => {
    const c: ArchiveCollection = { db: 'a', collection: 'b', metadata: '{}', type: 'collection' };
    const good = await collect(
      writeArchive({ serverVersion: '7', toolVersion: 't' }, [c], () =>
        docs([BSON.serialize({ x: 'hello' })]),
      ),
    );
    const reject = (buf: Buffer, re: RegExp) =>
      assert.rejects(
        readArchive(pieces(buf, 7), {}),
        (e: unknown) => e instanceof ArchiveFormatError && re.test(e.message),
      );
    await reject(Buffer.concat([Buffer.from([1, 2, 3, 4]), good.subarray(4)]), /not a mongodump archive/);
    const flipped = Buffer.from(good);
    flipped[flipped.indexOf(Buffer.from('hello')) + 1] ^= 1;
    await reject(flipped, /the CRC of a\.b does not match/);
    await reject(good.subarray(0, good.length - 30), /ends early|before all collections/);
    const prelude2 = await collect(
      writeArchive({ serverVersion: '7', toolVersion: 't' }, [c, { ...c, collection: 'c' }], (x) =>
        x.collection === 'b' ? docs([]) : docs([]),
      ),
    );
    // Drop the last collection's segments: header, terminator, EOF header, terminator.
    const cut = prelude2.subarray(
      0,
      prelude2.lastIndexOf(Buffer.from('collection\0', 'latin1'), prelude2.length - 60) - 30,
    );
    await assert.rejects(readArchive(pieces(cut, 5), {}), ArchiveFormatError);
  });
});
