/**
 * The engine table of docs/cli.md (under "backup") lists every engine the registry knows, each
 * once, and its restore options are the flags of the scopes the engine declares.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { engineDeclaration, knownSourceTypes } from '../src/sources/registry.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The table's rows: the engine types of each row, and its restore options cell. */
function engineRows(): { types: string[]; options: string }[] {
  const text = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
  const start = text.indexOf('| type | backs up | restore options | documented in |');
  assert.ok(start >= 0, 'docs/cli.md has the engine table');
  const rows = text.slice(start).split('\n').slice(2);
  return rows
    .slice(
      0,
      rows.findIndex((l) => !l.startsWith('|')),
    )
    .map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      return { types: [...cells[1].matchAll(/`([a-z]+)`/g)].map((m) => m[1]), options: cells[3] };
    });
}

test('docs/cli.md lists every engine of the registry with its restore options', () => {
  const rows = engineRows();
  assert.deepEqual(rows.flatMap((r) => r.types).sort(), knownSourceTypes());
  for (const row of rows) {
    for (const type of row.types) {
      const flags = engineDeclaration(type)?.restore.scopes.map((s) => `--${s.flag}`) ?? [];
      const listed = [...row.options.matchAll(/`(--[a-z-]+)`/g)].map((m) => m[1]);
      // --data-only is an option on top of a scope, not a scope of its own.
      assert.deepEqual(
        listed.filter((f) => f !== '--data-only'),
        flags,
        `${type}: restore options in docs/cli.md`,
      );
    }
  }
});
