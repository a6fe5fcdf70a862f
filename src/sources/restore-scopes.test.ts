import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { engineDeclaration, engineFacts, knownSourceTypes, restoreScopes } from './registry.js';
import { ALL_SCOPES, RESTORE_SCOPES, scopeValues } from './restore-scopes.js';

describe('restore scopes', () => {
  it('are the union of what the engines declare, in the CLI order', () => {
    assert.deepEqual(
      restoreScopes().map((s) => s.flag),
      ['include', 'table', 'schema', 'db', 'pattern', 'collection'],
    );
    assert.deepEqual(
      engineDeclaration('postgres')?.restore.scopes.map((s) => s.field),
      ['tables', 'schemas'],
    );
    assert.deepEqual(engineDeclaration('redis')?.restore.scopes, [RESTORE_SCOPES.db, RESTORE_SCOPES.pattern]);
  });

  it('every engine takes its scopes from the one catalogue', () => {
    for (const e of engineFacts()) {
      for (const scope of e.restore.scopes)
        assert.ok(ALL_SCOPES.includes(scope), `${e.type}: ${scope.field}`);
    }
    assert.deepEqual(
      engineFacts().map((e) => e.type),
      knownSourceTypes(),
    );
  });

  it('reads flags or request fields, checking a CLI number', () => {
    assert.deepEqual(scopeValues({ table: ['users'], db: '3', pattern: 'user:*', to: '/x' }, 'flag'), {
      tables: ['users'],
      db: 3,
      pattern: 'user:*',
    });
    assert.deepEqual(scopeValues({ schemas: ['sales'], db: 0 }, 'field'), { schemas: ['sales'], db: 0 });
    assert.throws(
      () => scopeValues({ db: 'two' }, 'flag'),
      (err) =>
        isLifeboatError(err) && err.code === 'usage' && /--db expects a whole number/.test(err.message),
    );
  });
});
