import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { resolveRepository } from './repository-settings.js';

test('password_command: stdout without its newline is the password', async () => {
  const r = await resolveRepository(
    { repository: { url: '/r', password_command: 'printf "s3cret\\n"' } },
    {},
  );
  assert.equal(r.password, 's3cret');
  const e = await resolveRepository(
    { repository: { url: '/r' } },
    { LIFEBOAT_PASSWORD_COMMAND: 'echo from-env' },
  );
  assert.equal(e.password, 'from-env');
});

test('a failing or silent password command is a clear error that never shows its output', async () => {
  await assert.rejects(
    resolveRepository(
      { repository: { url: '/r', password_command: 'echo leaked-secret; echo vault sealed >&2; exit 4' } },
      {},
    ),
    (err) => {
      assert.ok(isLifeboatError(err));
      assert.match(
        err.message,
        /password command \(from repository\.password_command\) failed with exit code 4: vault sealed/,
      );
      assert.doesNotMatch(err.message, /leaked-secret/);
      return true;
    },
  );
  await assert.rejects(
    resolveRepository({ repository: { url: '/r', password_command: 'true' } }, {}),
    /printed nothing/,
  );
});
