/**
 * @module cli/password-prompt
 * Passwords typed at a terminal, without echo: the repository's when no setting gives it, and
 * new ones (`init`, `key add`, `key passwd`, `key import`), typed twice. Only on a terminal:
 * a script without a password setting gets an error that names the settings instead.
 */
import { readFile } from 'node:fs/promises';
import { LifeboatError } from '../errors.js';

/** Whether a prompt can be shown: standard input is a terminal. */
export function canPrompt(): boolean {
  return !!process.stdin.isTTY;
}

/**
 * A new password from `file`, LIFEBOAT_NEW_PASSWORD, or (only on a terminal) typed twice;
 * `tag` names the command in errors.
 */
export async function newPassword(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  tag = 'key',
): Promise<string> {
  if (file) return readPasswordFile(file, `the new password file ${file}`, tag);
  if (env.LIFEBOAT_NEW_PASSWORD) return env.LIFEBOAT_NEW_PASSWORD;
  if (!canPrompt()) {
    throw new LifeboatError(
      'usage',
      `[${tag}] no new password: pass --new-password-file FILE or set LIFEBOAT_NEW_PASSWORD`,
    );
  }
  return askTwice('new password', tag);
}

/** A password from a file (one trailing newline dropped); `what` names the file in errors. */
export async function readPasswordFile(file: string, what: string, tag: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LifeboatError('usage', `[${tag}] cannot read ${what}: ${(err as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password.length === 0) throw new LifeboatError('usage', `[${tag}] ${what} is empty`);
  return password;
}

/** A password typed twice (a new one: a typo would lock the data away); `what` names it. */
export async function askTwice(what: string, tag: string): Promise<string> {
  const first = await askPassword(`${what}: `, tag);
  if (first.length === 0) throw new LifeboatError('usage', `[${tag}] an empty password is not allowed`);
  const second = await askPassword(`repeat ${what}: `, tag);
  if (first !== second)
    throw new LifeboatError('usage', `[${tag}] the two passwords differ; nothing was changed`);
  return first;
}

/** Characters typed after a line's end, kept for the next prompt (a paste of two lines). */
let pending = '';

/** One line typed at the terminal without echo; Ctrl-C or Ctrl-D on an empty line cancels. */
export function askPassword(prompt: string, tag: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    // Echo goes off before the prompt shows, so nothing typed after it can be echoed.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    let value = '';
    const finish = (error?: LifeboatError) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const take = (text: string): boolean => {
      const chars = [...text];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i];
        if (ch === '\r' || ch === '\n') {
          // "\r\n" is one line end.
          const next = ch === '\r' && chars[i + 1] === '\n' ? i + 2 : i + 1;
          pending = chars.slice(next).join('');
          finish();
          return true;
        }
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          pending = '';
          finish(new LifeboatError('interrupted', `[${tag}] password prompt cancelled; nothing was done`));
          return true;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
      return false;
    };
    const onData = (buf: Buffer) => {
      take(buf.toString('utf8'));
    };
    const leftover = pending;
    pending = '';
    if (take(leftover)) return;
    stdin.on('data', onData);
    stdin.resume();
  });
}
