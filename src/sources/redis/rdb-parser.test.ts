import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc64Table, crc64Update } from '../crc64.js';
import { Crc64, crc64 } from './crc64.js';
import { lzfDecompress } from './lzf.js';
import { describeKey, moduleName, parseRdb, type RdbEntry, RdbFormatError } from './rdb-parser.js';
import { redisGlobMatch } from './redis-glob.js';

/** A length in RDB encoding (6-bit, 14-bit or 32-bit). */
function len(n: number): Buffer {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0x80;
  b.writeUInt32BE(n, 1);
  return b;
}
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([len(b.length), b]);
}
/** An RDB file: header, body, EOF and a checksum (or zeros). */
function rdb(body: Buffer[], options: { version?: number; checksum?: 'ok' | 'zero' | 'bad' } = {}): Buffer {
  const head = Buffer.from(`REDIS${String(options.version ?? 10).padStart(4, '0')}`);
  const data = Buffer.concat([head, ...body, Buffer.from([0xff])]);
  const sum = crc64(data);
  if (options.checksum === 'zero') sum.fill(0);
  if (options.checksum === 'bad') sum[0] ^= 1;
  return Buffer.concat([data, sum]);
}
async function* pieces(b: Buffer, size = 3): AsyncIterable<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
const AUX = 0xfa;
const SELECTDB = 0xfe;
const EXPIRE_MS = 0xfc;
const EXPIRE_S = 0xfd;

describe('rdb parser', () => {
  it('computes the CRC-64 Redis uses (Jones, reflected)', () => {
    assert.equal(
      Buffer.from(crc64(Buffer.from('123456789')))
        .reverse()
        .toString('hex'),
      'e9c6d914c4b8d9ca',
    );
  });

  it('computes the same CRC-64 eight bytes a step as a byte a step, at any offset and length', () => {
    const data = Buffer.alloc(1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 3) * 104729) & 0xff;
    const table = crc64Table(0x95ac9329, 0xac4bc9b5);
    for (const [start, end] of [
      [0, 1000],
      [3, 997],
      [5, 12],
      [0, 7],
      [1, 1],
    ]) {
      const slow = { hi: 0, lo: 0 };
      crc64Update(table, slow, data, start, end);
      const fast = new Crc64().update(data, start, end);
      assert.deepEqual([fast.hi, fast.lo], [slow.hi, slow.lo], `bytes ${start}..${end}`);
    }
    // Pieces of a stream give the CRC of the whole.
    const whole = new Crc64().update(data);
    const inPieces = new Crc64().update(data, 0, 13).update(data, 13, 500).update(data, 500);
    assert.deepEqual(inPieces.digestLE(), whole.digestLE());
  });

  it('decompresses LZF literal runs and back references', () => {
    assert.equal(lzfDecompress(Buffer.from([2, 97, 98, 99, 0x80, 2]), 9).toString(), 'abcabcabc');
    assert.throws(() => lzfDecompress(Buffer.from([2, 97, 98, 99, 0x80, 9]), 9), /out of bounds/);
  });

  it('matches keys like Redis KEYS patterns', () => {
    const m = (p: string, k: string) => redisGlobMatch(Buffer.from(p), Buffer.from(k));
    assert.ok(m('user:*', 'user:1'));
    assert.ok(!m('user:*', 'users:1'));
    assert.ok(m('h?llo', 'hello') && !m('h?llo', 'heello'));
    assert.ok(m('h[ae]llo', 'hallo') && !m('h[ae]llo', 'hillo'));
    assert.ok(m('h[^e]llo', 'hallo') && !m('h[^e]llo', 'hello'));
    assert.ok(m('h[a-b]llo', 'hbllo') && !m('h[a-b]llo', 'hcllo'));
    assert.ok(m('a\\*b', 'a*b') && !m('a\\*b', 'axb'));
    assert.ok(m('*', '') && m('**x**', 'abxcd'));
  });

  it('walks keys, databases, expiries and AUX fields, in pieces of any size', async () => {
    const file = rdb([
      Buffer.from([AUX]),
      str('redis-ver'),
      str('7.0.15'),
      Buffer.from([SELECTDB]),
      len(0),
      Buffer.from([0]),
      str('plain'),
      str('value'),
      Buffer.from([EXPIRE_MS]),
      Buffer.from('e803000000000000', 'hex'), // 1000 ms
      Buffer.from([0]),
      str('expiring'),
      Buffer.from([0xc0, 7]), // integer-encoded string: 7
      Buffer.from([SELECTDB]),
      len(3),
      Buffer.from([EXPIRE_S]),
      Buffer.from('02000000', 'hex'), // 2 s
      Buffer.from([1]),
      str('list'),
      len(2),
      str('a'),
      str('b'),
    ]);
    const entries: RdbEntry[] = [];
    const summary = await parseRdb(pieces(file), {
      wantValue: () => true,
      entry: (e) => void entries.push(e),
    });
    assert.deepEqual(summary.keys, { '0': 2, '3': 1 });
    assert.equal(summary.expires, 2);
    assert.equal(summary.checksum, 'verified');
    assert.equal(summary.aux['redis-ver'], '7.0.15');
    assert.deepEqual(
      entries.map((e) => [
        e.db,
        e.key.toString(),
        e.type,
        e.expireMs,
        Buffer.concat(e.value!).toString('hex'),
      ]),
      [
        [0, 'plain', 0, undefined, str('value').toString('hex')],
        [0, 'expiring', 0, 1000, 'c007'],
        [3, 'list', 1, 2000, Buffer.concat([len(2), str('a'), str('b')]).toString('hex')],
      ],
    );
    // Counting expiries alone (no key read): the same expiries, per database.
    const expiries: [number, number][] = [];
    const counted = await parseRdb(pieces(file, 5), { expiry: (db, ms) => void expiries.push([db, ms]) });
    assert.deepEqual(expiries, [
      [0, 1000],
      [3, 2000],
    ]);
    assert.deepEqual(counted.keys, summary.keys);
    // The DUMP checksum covers the type byte, the value and the RDB version.
    const e = entries[0];
    const ver = Buffer.alloc(2);
    ver.writeUInt16LE(10);
    assert.deepEqual(e.payloadCrc, crc64(Buffer.concat([Buffer.from([0]), ...e.value!, ver])));
  });

  it('fails on an unknown type, naming the type byte and the key', async () => {
    const file = rdb([Buffer.from([SELECTDB]), len(2), Buffer.from([30]), str('mystery'), str('x')]);
    await assert.rejects(parseRdb(pieces(file)), (err: unknown) => {
      assert.ok(err instanceof RdbFormatError);
      assert.match(err.message, /unknown RDB value type 30 for key "mystery" in db 2/);
      return true;
    });
  });

  it('checks the checksum, accepts a disabled one, and refuses truncation and trailing bytes', async () => {
    const body = [Buffer.from([0]), str('k'), str('v')];
    await assert.rejects(parseRdb(pieces(rdb(body, { checksum: 'bad' }))), /checksum does not match/);
    assert.equal((await parseRdb(pieces(rdb(body, { checksum: 'zero' })))).checksum, 'disabled');
    const whole = rdb(body);
    await assert.rejects(parseRdb(pieces(whole.subarray(0, whole.length - 12))), /ends early, at byte/);
    await assert.rejects(
      parseRdb(pieces(Buffer.concat([whole, Buffer.from('junk')]))),
      /unexpected bytes after the end/,
    );
    await assert.rejects(parseRdb(pieces(Buffer.from('NOTREDIS0010'))), /not an RDB file/);
    await assert.rejects(parseRdb(pieces(rdb(body, { version: 99 }))), /RDB version 99 is not supported/);
  });

  it('skips module values by their self-description, naming the module', async () => {
    // Module id: "lifeboat1" in 9 x 6 bits, encoding version 0; then a string field and EOF.
    const charset = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let id = 0n;
    for (const ch of 'lifeboat1') id = (id << 6n) | BigInt(charset.indexOf(ch));
    id <<= 10n;
    const idBytes = Buffer.alloc(9);
    idBytes[0] = 0x81;
    idBytes.writeBigUInt64BE(id, 1);
    assert.equal(moduleName(id), 'lifeboat1');
    const value = Buffer.concat([idBytes, len(5), str('field'), len(2), len(42), len(0)]);
    const file = rdb([Buffer.from([7]), str('modkey'), value, Buffer.from([0]), str('after'), str('v')]);
    const entries: RdbEntry[] = [];
    const summary = await parseRdb(pieces(file, 7), { entry: (e) => void entries.push(e) });
    assert.equal(summary.moduleKeys, 1);
    assert.equal(entries[0].module, 'lifeboat1');
    assert.equal(entries[0].valueLength, value.length);
    assert.equal(entries[1].key.toString(), 'after');
  });

  it('hands large values over by offset instead of in memory', async () => {
    const big = Buffer.alloc(100_000, 0x61);
    const file = rdb([Buffer.from([0]), str('big'), str(big)]);
    const entries: RdbEntry[] = [];
    await parseRdb(
      pieces(file, 4096),
      { wantValue: () => true, entry: (e) => void entries.push(e) },
      { captureLimit: 1000 },
    );
    assert.equal(entries[0].value, undefined);
    assert.deepEqual(
      file.subarray(entries[0].valueOffset, entries[0].valueOffset + entries[0].valueLength),
      str(big),
    );
    const ver = Buffer.alloc(2);
    ver.writeUInt16LE(10);
    assert.deepEqual(entries[0].payloadCrc, crc64(Buffer.concat([Buffer.from([0]), str(big), ver])));
  });

  it('describes binary keys readably', () => {
    assert.equal(describeKey(Buffer.from([0x61, 0, 0x22, 0xff])), '"a\\x00\\"\\xff"');
  });
});
