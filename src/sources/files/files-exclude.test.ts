import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createExcludeMatcher } from './files-exclude.js';

test('a pattern without a slash matches the name at any depth', () => {
  const m = createExcludeMatcher(['*.tmp', 'node_modules']);
  assert.ok(m('x.tmp', false));
  assert.ok(m('a/b/.hidden.tmp', false));
  assert.ok(m('a/node_modules', true));
  assert.ok(!m('x.tmp.keep', false));
});

test('a trailing slash matches folders only', () => {
  const m = createExcludeMatcher(['.cache/']);
  assert.ok(m('.cache', true));
  assert.ok(m('a/b/.cache', true));
  assert.ok(!m('a/.cache', false));
});

test('a pattern with a slash matches the path from the root', () => {
  const m = createExcludeMatcher(['logs/*.log', '/build/', 'a/**/z']);
  assert.ok(m('logs/x.log', false));
  assert.ok(!m('b/logs/x.log', false));
  assert.ok(m('build', true));
  assert.ok(!m('src/build', true));
  assert.ok(m('a/b/c/z', false));
});

test('no patterns exclude nothing', () => {
  assert.ok(!createExcludeMatcher([])('anything', false));
  assert.ok(!createExcludeMatcher(['/'])('anything', true));
});
