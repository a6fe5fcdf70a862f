import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stripUrlPassword } from './backup.js';

test('stripUrlPassword removes the password and keeps the user', () => {
  assert.equal(stripUrlPassword('postgres://app:s3cret@db:5432/shop'), 'postgres://app@db:5432/shop');
  assert.equal(stripUrlPassword('mysql://root:p%40ss@localhost/x'), 'mysql://root@localhost/x');
});

test('stripUrlPassword leaves no bare @ when there is no user', () => {
  assert.equal(stripUrlPassword('redis://:s3cret@cache:6379/0'), 'redis://cache:6379/0');
  assert.equal(stripUrlPassword('rediss://:s3cret@cache'), 'rediss://cache');
});

test('stripUrlPassword leaves URLs and paths without a password as they are', () => {
  assert.equal(stripUrlPassword('redis://cache:6379/0'), 'redis://cache:6379/0');
  assert.equal(stripUrlPassword('postgres://app@db/shop'), 'postgres://app@db/shop');
  assert.equal(stripUrlPassword('/var/lib/files'), '/var/lib/files');
});

test('stripUrlPassword cleans every URL inside a message', () => {
  assert.equal(
    stripUrlPassword(
      '[restore] cannot reach postgres://app:s3cret@db/shop or redis://:pw@cache:6379 (refused)',
    ),
    '[restore] cannot reach postgres://app@db/shop or redis://cache:6379 (refused)',
  );
});
