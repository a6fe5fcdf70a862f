import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsnValue, parseTarget } from './recovery-target.js';

test('--at forms: time, latest, restore point, LSN, transaction id', () => {
  assert.deepEqual(parseTarget('latest'), { kind: 'latest' });
  assert.deepEqual(parseTarget('2026-11-24T10:15:00Z'), {
    kind: 'time',
    time: Date.parse('2026-11-24T10:15:00Z'),
  });
  assert.deepEqual(parseTarget('name:before_b'), { kind: 'name', name: 'before_b' });
  assert.deepEqual(parseTarget('lsn:16/b374d848'), { kind: 'lsn', lsn: '16/B374D848', value: 0x16b374d848n });
  assert.deepEqual(parseTarget('xid:4711'), { kind: 'xid', xid: '4711' });
  for (const [bad, why] of [
    ['yesterday', /is not a point in time/],
    ['name:', /names no restore point/],
    ['lsn:16', /is not an LSN/],
    ['lsn:G/0', /is not an LSN/],
    ['xid:0', /is not a transaction id/],
    ['xid:-3', /is not a transaction id/],
  ] as const) {
    assert.throws(
      () => parseTarget(bad),
      (err: Error & { code?: string }) =>
        err.code === 'usage' && why.test(err.message) && /"lsn:0\/3000060" or "xid:NUMBER"/.test(err.message),
      bad,
    );
  }
});

test('LSNs compare as numbers, not as text', () => {
  assert.ok(lsnValue('0/A0000000') > lsnValue('0/9FFFFFFF'));
  assert.ok(lsnValue('1/0') > lsnValue('0/FFFFFFFF'));
  assert.ok(lsnValue('10/0') > lsnValue('9/FFFFFFFF'));
  assert.equal(lsnValue('garbage'), -1n);
});
