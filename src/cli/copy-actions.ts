/**
 * @module cli/copy-actions
 * `lifeboat copy SNAPSHOT|--all --to REPO_URL [--older-than DURATION]`: parse, open both
 * repositories, call the copy job once, render.
 */

import { formatBytes } from '../byte-size.js';
import { parseDuration } from '../config/duration.js';
import { resolveRepository } from '../config/repository-settings.js';
import { LifeboatError } from '../errors.js';
import { runCopy } from '../jobs/copy.js';
import { redactUrl } from '../storage/registry.js';
import type { CliContext } from './context.js';
import { readPasswordFile } from './password-prompt.js';
import { progressFor } from './progress-bar.js';
import { print } from './shell.js';

interface CopyOptions {
  to?: string;
  all?: boolean;
  olderThan?: string;
  toPasswordFile?: string;
}

export async function copy(ctx: CliContext, opts: CopyOptions, refs: string[]): Promise<void> {
  if (!opts.all && refs.length === 0) {
    throw new LifeboatError(
      'usage',
      '[copy] name the snapshots to copy (ids, prefixes or "latest"), or pass --all',
    );
  }
  if (opts.all && refs.length > 0) {
    throw new LifeboatError('usage', '[copy] give snapshot ids or --all, not both');
  }
  const olderThanMs = opts.olderThan === undefined ? undefined : parseDuration(opts.olderThan);
  const source = await resolveRepository(ctx.config, ctx.env);
  const toPassword = await destinationPassword(opts.toPasswordFile, ctx.env, source.password);
  const src = await ctx.openRepository();
  const dst = await ctx.openRepositoryAt(opts.to!, toPassword).catch((err) => {
    if ((err as { code?: string }).code === 'repo_not_found') {
      throw new LifeboatError(
        'repo_not_found',
        `[copy] no repository at ${redactUrl(opts.to!)}: create it first (LIFEBOAT_REPO=${redactUrl(opts.to!)} lifeboat init)`,
        { cause: err },
      );
    }
    throw err;
  });
  try {
    const outcome = await runCopy(src, dst, {
      snapshots: opts.all ? 'all' : refs,
      takenBefore: olderThanMs === undefined ? undefined : new Date(src.clock.now().getTime() - olderThanMs),
      progress: progressFor(ctx.options),
    });
    if (ctx.options.json) {
      print(
        JSON.stringify(
          {
            destination: dst.location,
            snapshots: outcome.results.map((r) => ({
              source_id: r.sourceId,
              destination_id: r.destinationId,
              existed: r.existed,
              source: r.snapshot.source,
              time: r.snapshot.time,
            })),
            blobs_read: outcome.blobsRead,
            blobs_added: outcome.blobsAdded,
            bytes_added: outcome.bytesAdded,
            wal_copied: outcome.walCopied,
          },
          null,
          2,
        ),
      );
      return;
    }
    for (const r of outcome.results) {
      const what = `${r.sourceId.slice(0, 8)} (${r.snapshot.source}, ${r.snapshot.time.replace('T', ' ').slice(0, 19)})`;
      print(
        r.existed
          ? `snapshot ${what} is already at the destination as ${r.destinationId.slice(0, 8)}`
          : `copied snapshot ${what} to ${r.destinationId.slice(0, 8)}`,
      );
    }
    const copied = outcome.results.filter((r) => !r.existed).length;
    print(
      `${copied} snapshot${copied === 1 ? '' : 's'} copied to ${dst.location}, ${outcome.results.length - copied} already there; ${outcome.blobsAdded} blobs${outcome.walCopied ? `, ${outcome.walCopied} WAL files` : ''}, ${formatBytes(outcome.bytesAdded)} added`,
    );
  } finally {
    await src.close();
    await dst.close();
  }
}

async function destinationPassword(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  fallback: string,
): Promise<string> {
  if (file) return readPasswordFile(file, `the password file ${file} (from --to-password-file)`, 'copy');
  return env.LIFEBOAT_TO_PASSWORD || fallback;
}
