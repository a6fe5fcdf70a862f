import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confQuote, pgTime } from './recovery-config.js';

test('times and strings are written the way postgresql.conf reads them', () => {
  assert.equal(pgTime('2026-11-24T10:51:00.463Z'), '2026-11-24 10:51:00.463+00');
  assert.equal(confQuote("/a b/it's"), "'/a b/it''s'");
});
