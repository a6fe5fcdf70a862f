import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLifeboatError, type LifeboatError } from '../errors.js';
import { sourceFromCli } from './source-from-cli.js';

function fails(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isLifeboatError(err), `expected a LifeboatError, got ${err}`);
    assert.equal((err as LifeboatError).code, code, (err as Error).message);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

describe('sources on the command line', () => {
  it('builds and validates a source config from flags', () => {
    assert.deepEqual(
      sourceFromCli({ type: 'files', name: 'uploads', path: '/srv/uploads', exclude: ['*.tmp'] }),
      {
        type: 'files',
        path: '/srv/uploads',
        exclude: ['*.tmp'],
      },
    );
    assert.deepEqual(sourceFromCli({ type: 'sqlite', name: 'db', path: '/srv/app.db', exclude: [] }), {
      type: 'sqlite',
      path: '/srv/app.db',
    });
  });

  it('names the flag that is missing, misplaced or wrong', () => {
    assert.throws(
      () => sourceFromCli({ type: 'files', name: 'up' }),
      fails('usage', /--type files needs --path/),
    );
    assert.throws(
      () => sourceFromCli({ type: 'sqlite', name: 'db', path: '/a', url: 'x' }),
      fails('usage', /--url does not apply to --type sqlite/),
    );
    assert.throws(
      () => sourceFromCli({ type: 'oracle', name: 'db', url: 'x' }),
      fails('usage', /unknown source type "oracle" \(known: command, files, [a-z, ]*sqlite\)/),
    );
    assert.throws(
      () => sourceFromCli({ type: 'files', name: '../up', path: '/a' }),
      fails('usage', /--name "\.\.\/up" is not a valid source name/),
    );
  });
});
