/**
 * @module cli/key-actions
 * `lifeboat key ...`: passwords (add, list, remove, passwd), data-key epochs (rotate,
 * retire) and escrow (export, import). Parse, call the repository or a job, render.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { formatBytes } from '../byte-size.js';
import { LifeboatError } from '../errors.js';
import { runReencrypt, runRetire, runRotate } from '../repo/maintenance/rekey.js';
import { Repository } from '../repo/repository.js';
import type { CliContext } from './context.js';
import { newPassword } from './password-prompt.js';
import { progressFor } from './progress-bar.js';
import { print, table } from './shell.js';

export async function keyList(ctx: CliContext): Promise<void> {
  const repo = await ctx.openRepository();
  const keys = await repo.listKeys();
  const { epochs, current } = repo.keyEpochs();
  if (ctx.options.json) {
    const epochInfo = repo.writeOnly ? { writeOnly: true } : { epochs, currentEpoch: current };
    print(JSON.stringify({ keys, ...epochInfo }, null, 2));
    return;
  }
  table(
    ['', 'ID', 'Role', 'User', 'Host', 'Created'],
    keys.map((k) => [
      k.current ? '*' : '',
      k.id.slice(0, 8),
      k.role,
      k.username,
      k.host,
      k.created.replace('T', ' ').slice(0, 19),
    ]),
  );
  if (repo.writeOnly) return;
  print(`data-key epochs: ${epochs.join(', ')} (current: ${current})`);
}

export async function keyAdd(
  ctx: CliContext,
  opts: { newPasswordFile?: string; writeOnly?: boolean },
): Promise<void> {
  const repo = await ctx.openRepository();
  const id = await repo.addKey(await newPassword(opts.newPasswordFile, ctx.env), {
    writeOnly: !!opts.writeOnly,
  });
  print(`added ${opts.writeOnly ? 'write-only ' : ''}key ${id.slice(0, 8)}`);
}

export async function keyRemove(ctx: CliContext, _opts: unknown, ref: string): Promise<void> {
  const repo = await ctx.openRepository();
  const matches = (await repo.listKeys()).filter((k) => k.id.startsWith(ref));
  if (matches.length !== 1) {
    throw new LifeboatError(
      matches.length ? 'usage' : 'not_found',
      `[key] "${ref}" matches ${matches.length} keys; list them with \`lifeboat key list\``,
    );
  }
  await repo.removeKey(matches[0].id);
  print(`removed key ${matches[0].id.slice(0, 8)}`);
}

export async function keyPasswd(ctx: CliContext, opts: { newPasswordFile?: string }): Promise<void> {
  const repo = await ctx.openRepository();
  const id = await repo.replaceKey(await newPassword(opts.newPasswordFile, ctx.env));
  print(`password changed: key ${repo.keyId.slice(0, 8)} replaced by ${id.slice(0, 8)}`);
}

export async function keyRotate(ctx: CliContext, opts: { reencrypt?: boolean }): Promise<void> {
  const repo = await ctx.openRepository();
  const { epoch } = await runRotate(repo);
  if (!ctx.options.json) print(`data-key epoch ${epoch} is now current: new data is sealed with it`);
  if (!opts.reencrypt) {
    if (ctx.options.json) print(JSON.stringify({ epoch }));
    return;
  }
  // LIFEBOAT_REENCRYPT_BATCH_BYTES: smaller batches, for tests that kill re-encryption midway.
  const batchBytes = Number(ctx.env.LIFEBOAT_REENCRYPT_BATCH_BYTES) || undefined;
  const r = await runReencrypt(repo, { progress: progressFor(ctx.options), batchBytes });
  if (ctx.options.json) print(JSON.stringify(r));
  else
    print(
      `re-encrypted under epoch ${r.epoch}: ${r.packs} packs (${formatBytes(r.bytes)}), ${r.indexes} index files, ${r.snapshots} snapshots${r.wal ? `, ${r.wal} WAL files` : ''}; older epochs can now be retired with \`lifeboat key retire EPOCH\``,
    );
}

export async function keyRetire(ctx: CliContext, _opts: unknown, epochText: string): Promise<void> {
  const epoch = Number(epochText);
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new LifeboatError('usage', `[key] "${epochText}" is not a key epoch number`);
  const repo = await ctx.openRepository();
  await runRetire(repo, epoch);
  print(`retired key epoch ${epoch}: no stored file used it, and its key is gone`);
}

export async function keyExport(
  ctx: CliContext,
  opts: { recipient?: string; passphraseFile?: string; output?: string },
): Promise<void> {
  if (!opts.recipient && !opts.passphraseFile) {
    throw new LifeboatError(
      'usage',
      '[key] export needs --recipient AGE_PUBLIC_KEY or --passphrase-file FILE',
    );
  }
  const repo = await ctx.openRepository();
  const passphrase = opts.passphraseFile ? await readSecretFile(opts.passphraseFile) : undefined;
  const text = await repo.exportEscrow({ recipient: opts.recipient, passphrase });
  if (opts.output) {
    await writeFile(opts.output, text, { mode: 0o600 });
    process.stderr.write(
      `wrote the escrow file for repository ${repo.config.id.slice(0, 8)} to ${opts.output}; keep it apart from the repository\n`,
    );
  } else process.stdout.write(text);
}

export async function keyImport(
  ctx: CliContext,
  opts: { identity?: string; passphraseFile?: string; newPasswordFile?: string },
  file: string,
): Promise<void> {
  const escrow = await readSecretFile(file);
  const unlock = {
    identity: opts.identity ? await readSecretFile(opts.identity) : undefined,
    passphrase: opts.passphraseFile ? await readSecretFile(opts.passphraseFile) : undefined,
  };
  const password = await newPassword(opts.newPasswordFile, ctx.env);
  const id = await Repository.importEscrow(
    await ctx.openBackend(),
    escrow,
    unlock,
    password,
    ctx.repoOptions(),
  );
  print(`imported: key ${id.slice(0, 8)} opens the repository with the new password`);
}

async function readSecretFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new LifeboatError('usage', `[key] cannot read ${path}: ${(err as Error).message}`);
  }
}
