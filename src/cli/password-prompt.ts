/**
 * @module cli/password-prompt
 * New passwords for `key add` / `key passwd`: from a file, the environment, or (only on a
 * terminal) typed twice without echo.
 */
import { readFile } from 'node:fs/promises';
import { LifeboatError } from '../errors.js';

export async function newPassword(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new LifeboatError(
        'usage',
        `[key] cannot read the new password file ${file}: ${(err as Error).message}`,
      );
    }
    const password = text.replace(/\r?\n$/, '');
    if (password.length === 0)
      throw new LifeboatError('usage', `[key] the new password file ${file} is empty`);
    return password;
  }
  if (env.LIFEBOAT_NEW_PASSWORD) return env.LIFEBOAT_NEW_PASSWORD;
  if (!process.stdin.isTTY) {
    throw new LifeboatError(
      'usage',
      '[key] no new password: pass --new-password-file FILE or set LIFEBOAT_NEW_PASSWORD',
    );
  }
  const first = await ask('new password: ');
  const second = await ask('repeat new password: ');
  if (first !== second)
    throw new LifeboatError('usage', '[key] the two passwords differ; nothing was changed');
  if (first.length === 0) throw new LifeboatError('usage', '[key] an empty password is not allowed');
  return first;
}

function ask(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          reject(new LifeboatError('interrupted', '[key] cancelled'));
          return;
        }
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
