import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, parseByteRate, parseByteSize } from './byte-size.js';
import { byteRateSchema, byteSizeSchema } from './byte-size-schema.js';

test('sizes: every unit is a power of 1024, however it is spelled', () => {
  for (const [unit, power] of [
    ['K', 1],
    ['M', 2],
    ['G', 3],
    ['T', 4],
  ] as const) {
    for (const spelling of [unit, `${unit}B`, `${unit}iB`, `${unit.toLowerCase()}b`, ` ${unit}iB`]) {
      assert.equal(parseByteSize(`500${spelling}`), 500 * 1024 ** power, `500${spelling}`);
    }
  }
  assert.equal(parseByteSize('500MB'), parseByteSize('500MiB'));
  assert.equal(parseByteSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseByteSize('4096'), 4096);
  assert.equal(parseByteSize('4096 B'), 4096);
  assert.equal(parseByteSize(8), 8);
  assert.throws(() => parseByteSize('lots'), { code: 'config_invalid', message: /"lots" is not a size/ });
  assert.throws(() => parseByteSize('-1MiB'), { code: 'config_invalid' });
  assert.throws(() => parseByteSize('5PB'), { code: 'config_invalid' });
});

test('rates: a bare number is KiB/s, a size is per second', () => {
  assert.equal(parseByteRate(2048), 2048 * 1024);
  assert.equal(parseByteRate('2048'), 2048 * 1024);
  assert.equal(parseByteRate('2MiB'), 2 * 1024 ** 2);
  assert.equal(parseByteRate('2MB/s'), 2 * 1024 ** 2);
  assert.equal(parseByteRate('0'), 0);
  assert.ok(!byteRateSchema.safeParse('fast').success);
  assert.ok(!byteRateSchema.safeParse(-1).success);
});

test('the config schema takes what the parser takes', () => {
  for (const ok of [8388608, '8MiB', '8M', '8 mb', '0.5GiB'])
    assert.ok(byteSizeSchema.safeParse(ok).success, String(ok));
  for (const bad of ['8 megabytes', '', 1.5, -1, 'MiB'])
    assert.ok(!byteSizeSchema.safeParse(bad).success, String(bad));
});

test('sizes print in powers of 1024 with their IEC names', () => {
  assert.equal(formatBytes(908), '908 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(410.2 * 1024), '410.2 KiB');
  assert.equal(formatBytes(3 * 1024 ** 3), '3.00 GiB');
});
