/**
 * @module test/cli/cli-prompts
 * Passwords typed at a terminal (a pseudo-terminal from util-linux `script`): a missing
 * repository password is asked for once, a new one (`init`, `key add`) twice, nothing typed
 * is echoed, and a mismatch or a wrong password is an error with its code. Without a
 * terminal the same commands fail with the settings to use.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { runOnTerminal, terminalUnavailable } from '../helpers/terminal.js';

const skip = terminalUnavailable();
if (skip) console.log(`# skipped: ${skip}`);

const PASSWORD = 'typed-Pw-7!heron';

describe('lifeboat: password prompts on a terminal', { skip }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-prompts-'));
    env = repoEnv(join(dir, 'repo'));
    delete env.LIFEBOAT_PASSWORD;
  });
  after(() => cleanup());

  it('init asks for the new password twice; a mismatch creates nothing', async () => {
    const mismatch = await runOnTerminal(['init', '--repo', join(dir, 'other')], env, ['one-pw', 'two-pw']);
    assert.equal(mismatch.code, 2, mismatch.screen);
    assert.match(mismatch.screen, /the two passwords differ; nothing was changed/);
    const r = await runOnTerminal(['init'], env, [PASSWORD, PASSWORD]);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /^password for the new repository: \nrepeat password for the new repository: \n/);
    assert.match(r.screen, /created repository [0-9a-f]{8}/);
    assert.ok(!r.screen.includes(PASSWORD), 'the typed password is not echoed');
  });

  it('a command asks once for the password of an existing repository, naming it', async () => {
    const r = await runOnTerminal(['snapshots'], env, [PASSWORD]);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, new RegExp(`^password for the repository at ${join(dir, 'repo')}: \\n`));
    assert.match(r.screen, /0 snapshots/);
    assert.ok(!r.screen.includes(PASSWORD));
    const wrong = await runOnTerminal(['snapshots'], env, ['not-it']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.screen, /wrong password for the repository/);
  });

  it('key add asks for the password once, then for the new one twice', async () => {
    const r = await runOnTerminal(['key', 'add'], env, [PASSWORD, 'second-pw', 'second-pw']);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /: \nnew password: \nrepeat new password: \nadded key [0-9a-f]{8}/);
    const second = await runCli(['snapshots'], { ...env, LIFEBOAT_PASSWORD: 'second-pw' });
    assert.equal(second.code, 0, second.stderr);
  });

  it('without a terminal nothing is asked: the error names the settings', async () => {
    const r = await runCli(['snapshots'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no repository password given: set LIFEBOAT_PASSWORD/);
  });
});
