/**
 * @module sources/lmdb/lmdb-source
 * The LMDB engine: backup is a consistent, compacted copy of the environment taken while
 * writers go on (a read transaction's snapshot), stored as one artifact, `data.mdb`, with the
 * entries of every database counted on the copy. Restore writes the environment into a
 * folder, then opens it read-only and checks the entry counts against the snapshot's before
 * putting data.mdb in place.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, errnoCode, isLifeboatError, LifeboatError, writeFailed } from '../../errors.js';
import { makeDir } from '../../make-dir.js';
import { loadArtifacts, saveArtifacts, writeArtifactToFile } from '../artifact.js';
import { inspectFolderTarget } from '../folder-target.js';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  TargetContents,
} from '../source.js';
import {
  copyEnvironment,
  countEntries,
  dataFileSize,
  detectFormat,
  type EntryCounts,
  type LmdbFormat,
} from './lmdb-env.js';
import type { LmdbSourceConfig } from './lmdb-schema.js';

export const ARTIFACT = 'data.mdb';

export function createLmdbSource(name: string, config: LmdbSourceConfig): Source {
  return new LmdbSource(name, config);
}

class LmdbSource implements Source {
  readonly type = 'lmdb';
  readonly kind = 'physical';

  constructor(
    readonly name: string,
    private readonly config: LmdbSourceConfig,
  ) {}

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const path = resolve(this.config.path);
    const format = await detectFormat(path);
    // LMDB reads through a memory map, so the copy is a file: in a temporary folder.
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-lmdb-'));
    try {
      ctx.progress.start(`copy ${this.name}`);
      try {
        await copyEnvironment(path, dir, format);
      } catch (err) {
        throw isLifeboatError(err)
          ? err
          : new LifeboatError('source_failed', `[source:lmdb] copying ${path} failed: ${describe(err)}`, {
              cause: err,
            });
      } finally {
        ctx.progress.done();
      }
      ctx.signal?.throwIfAborted();
      const entries = await countEntries(dir, format);
      const bytes = (await stat(join(dir, ARTIFACT))).size;
      ctx.progress.start(`backup ${this.name}`, bytes);
      const stream = countBytes(createReadStream(join(dir, ARTIFACT)), (n) => ctx.progress.advance(n));
      const root = await saveArtifacts(ctx.store, [{ name: ARTIFACT, stream }]);
      ctx.progress.done();
      return {
        root,
        stats: {
          entries,
          entriesTotal: total(entries),
          databases: Object.keys(entries).length,
          bytes,
        },
        meta: { path, format, artifact: ARTIFACT, copy: 'compacted' },
      };
    } catch (err) {
      if (errnoCode(err) === 'ENOSPC') {
        throw new LifeboatError(
          'no_space',
          `[source:lmdb] no space left for the copy of ${path} in ${tmpdir()} (set TMPDIR to a larger folder)`,
          { cause: err },
        );
      }
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** What the target holds now: its files and bytes (a dry run reports it). */
  inspectTarget(to: string | undefined): Promise<TargetContents> {
    return inspectFolderTarget(resolve(to ?? this.config.path));
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    const to = options.to ?? this.config.path;
    const target = resolve(to.startsWith('file:') ? fileURLToPath(to) : to);
    if ((options.tables ?? []).length > 0 || (options.collections ?? []).length > 0 || options.pattern) {
      throw new LifeboatError(
        'usage',
        '[source:lmdb] an LMDB environment is restored whole (no --table, --pattern)',
      );
    }
    const nodes = await loadArtifacts(ctx.store, ctx.root);
    const node = nodes.find((n) => n.name === ARTIFACT);
    if (!node) {
      throw new LifeboatError(
        'repo_corrupt',
        `[source:lmdb] snapshot root ${ctx.root.slice(0, 8)} holds no data.mdb (run lifeboat check)`,
      );
    }
    const expected = (ctx.stats.entries ?? {}) as EntryCounts;
    const format = (ctx.meta.format === 1 ? 1 : 2) as LmdbFormat;
    const existing = await dataFileSize(target);
    if (existing !== undefined && existing > 0 && !options.overwrite && !options.dryRun) {
      throw new LifeboatError(
        'target_not_empty',
        `[source:lmdb] ${target} already holds an LMDB environment (stop its writers and pass --overwrite to replace it, or --to another folder)`,
      );
    }
    const items = Object.entries(expected).map(([db, n]) => `${db}: ${n} entr${n === 1 ? 'y' : 'ies'}`);
    if (options.dryRun) return { target, items, stats: ctx.stats };

    // Written and checked beside the target (same file system), then renamed into place.
    const staging = join(target, `.lifeboat-restore-${randomBytes(6).toString('hex')}`);
    await makeDir(target)
      .then(() => mkdir(staging))
      .catch((err) => Promise.reject(writeFailed('source:lmdb', target, err)));
    try {
      ctx.progress.start(`restore ${this.name}`, node.size);
      await writeArtifactToFile(ctx.store, node, join(staging, ARTIFACT), (n) =>
        ctx.progress.advance(n),
      ).catch((err) => Promise.reject(writeFailed('source:lmdb', target, err)));
      ctx.progress.done();
      const found = await countEntries(staging, format);
      const diffs = differences(expected, found);
      if (diffs.length > 0) {
        throw new LifeboatError(
          'integrity',
          `[source:lmdb] the restored environment does not match the snapshot: ${diffs.join('; ')} (nothing was replaced in ${target}; run lifeboat check --read-data)`,
        );
      }
      await rename(join(staging, ARTIFACT), join(target, ARTIFACT));
      return {
        target,
        items,
        stats: {
          entries: found,
          entriesTotal: total(found),
          databases: Object.keys(found).length,
          bytes: node.size,
        },
      };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

function total(entries: EntryCounts): number {
  return Object.values(entries).reduce((a, b) => a + b, 0);
}

function differences(expected: EntryCounts, found: EntryCounts): string[] {
  const out: string[] = [];
  for (const db of new Set([...Object.keys(expected), ...Object.keys(found)])) {
    if (expected[db] !== found[db]) {
      out.push(
        `database ${db}: ${found[db] ?? 'missing'} entries, the snapshot recorded ${expected[db] ?? 'none'}`,
      );
    }
  }
  return out;
}

async function* countBytes(
  stream: AsyncIterable<Buffer>,
  onBytes: (n: number) => void,
): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}
