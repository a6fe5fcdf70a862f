import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLifeboatError, type LifeboatError } from '../errors.js';
import { sourceSchemas } from './engine-schemas.js';
import { createSource, knownSourceTypes } from './registry.js';

function fails(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isLifeboatError(err), `expected a LifeboatError, got ${err}`);
    assert.equal((err as LifeboatError).code, code, (err as Error).message);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

describe('source registry', () => {
  it('knows every engine, each with a schema', () => {
    for (const t of ['files', 'sqlite', 'postgres', 'mysql', 'redis', 'mongodb', 'lmdb', 'command'])
      assert.ok(knownSourceTypes().includes(t), t);
    assert.deepEqual(Object.keys(sourceSchemas).sort(), knownSourceTypes());
    // Each schema under its own type: its literal `type` takes the key it is filed under.
    for (const [type, schema] of Object.entries(sourceSchemas)) {
      const issues = schema.safeParse({ type }).error?.issues ?? [];
      assert.ok(!issues.some((i) => i.path[0] === 'type'), type);
    }
  });

  it('creates a source by type, accepting the common config keys', async () => {
    const source = await createSource('app-db', {
      type: 'sqlite',
      path: '/srv/app.db',
      schedule: '0 3 * * *',
    });
    assert.equal(source.name, 'app-db');
    assert.equal(source.type, 'sqlite');
    assert.equal(source.kind, 'logical');
    assert.equal((await createSource('up', { type: 'files', path: '/srv/uploads' })).type, 'files');
  });

  it('rejects an unknown type, listing the known ones', async () => {
    await assert.rejects(
      () => createSource('x', { type: 'oracle' }),
      fails('config_invalid', /unknown source type "oracle" \(known: command, files, [a-z, ]*sqlite\)/),
    );
    await assert.rejects(
      () => createSource('x', { type: 'toString' }),
      fails('config_invalid', /unknown source type/),
    );
  });

  it('rejects settings the engine cannot use', async () => {
    await assert.rejects(
      () => createSource('x', { type: 'sqlite' }),
      fails('config_invalid', /source "x": path: /),
    );
  });
});
