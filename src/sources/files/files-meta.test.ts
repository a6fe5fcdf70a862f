import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkedNameBytes,
  encodeBytes,
  hardlinkSegment,
  joinPath,
  nodeNameBytes,
  nsToUtimesSeconds,
  parseHardlinkPath,
} from './files-meta.js';

test('valid UTF-8 names are kept as text, others also as base64', () => {
  assert.deepEqual(encodeBytes(Buffer.from('🎉 e\u0301')), { text: '🎉 e\u0301' });
  const raw = Buffer.from([0x66, 0xff, 0x6f]);
  const encoded = encodeBytes(raw);
  assert.equal(encoded.text, 'f\ufffdo');
  assert.equal(encoded.raw, raw.toString('base64'));
  assert.ok(nodeNameBytes({ name: encoded.text, nameRaw: encoded.raw }).equals(raw));
});

test('hard-link paths round-trip raw names, even when their base64 holds a slash', () => {
  const raw = Buffer.from([0xff, 0xff, 0xff]); // base64 "////"
  const path = ['dir', hardlinkSegment(raw), hardlinkSegment(Buffer.from('x.txt'))].join('/');
  assert.equal(path, 'dir/\0____/x.txt');
  const parsed = parseHardlinkPath(path);
  assert.deepEqual(
    parsed.map((b) => b.toString('hex')),
    ['646972', 'ffffff', '782e747874'],
  );
});

test('names that could escape the target are refused', () => {
  for (const name of ['..', '.', '', 'a/b', 'a\0b']) {
    assert.throws(() => checkedNameBytes({ name, type: 'file' }), { code: 'repo_corrupt' });
  }
  assert.equal(checkedNameBytes({ name: '...', type: 'file' }).toString(), '...');
});

test('utimes seconds land on the recorded microsecond', () => {
  const s = nsToUtimesSeconds('1700000000123456789', 0);
  const ns = BigInt(Math.trunc(s)) * 1_000_000_000n + BigInt(Math.trunc((s - Math.trunc(s)) * 1e9));
  assert.equal(ns / 1000n, 1700000000123456n);
  assert.equal(nsToUtimesSeconds(undefined, 42), 42);
  assert.equal(nsToUtimesSeconds('bogus', 42), 42);
});

test('joinPath joins bytes with one slash', () => {
  assert.equal(joinPath(Buffer.from('/a'), Buffer.from('b')).toString(), '/a/b');
  assert.equal(joinPath(Buffer.from('/'), Buffer.from('b')).toString(), '/b');
});
