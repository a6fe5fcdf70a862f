/**
 * @module sources/mongodb/mongodb-source
 * The MongoDB engine. Backup reads every collection (documents as raw BSON, indexes, options)
 * with the official driver, in one snapshot where the server supports snapshot reads, and
 * stores it as one `mongorestore --archive` compatible archive, `dump.archive`, with the
 * documents per collection recorded. Restore drops and re-creates the chosen collections
 * (all, or --collection), inserts their documents in batches, rebuilds their indexes and
 * checks the counts.
 */
import { EJSON } from 'bson';
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { loadArtifacts, readArtifact, saveArtifacts } from '../artifact.js';
import type {
  BackupContext,
  BackupResult,
  RecordedSnapshot,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  TargetContents,
} from '../source.js';
import { type ArchiveCollection, ArchiveFormatError, writeArchive } from './mongo-archive.js';
import {
  type MongoBackupReader,
  type MongoRestoreTarget,
  mongoDisplay,
  openMongoReader,
  openMongoTarget,
} from './mongo-driver.js';
import { restoreArchive } from './mongo-restore.js';
import type { MongodbSourceConfig } from './mongodb-schema.js';

export const ARTIFACT = 'dump.archive';

/** Databases a backup of "everything" leaves out: the server's own. */
const SYSTEM_DATABASES = new Set(['admin', 'local', 'config']);

export interface MongoConnectors {
  reader(url: string): Promise<MongoBackupReader>;
  target(url: string): Promise<MongoRestoreTarget>;
}

const driverConnectors: MongoConnectors = { reader: openMongoReader, target: openMongoTarget };

export function createMongodbSource(
  name: string,
  config: MongodbSourceConfig,
  connectors: MongoConnectors = driverConnectors,
): Source {
  return new MongodbSource(name, config, connectors);
}

class MongodbSource implements Source {
  readonly type = 'mongodb';
  readonly kind = 'logical';

  constructor(
    readonly name: string,
    private readonly config: MongodbSourceConfig,
    private readonly connect: MongoConnectors,
  ) {}

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const display = mongoDisplay(this.config.url);
    const reader = await this.connect.reader(this.config.url);
    try {
      const dbs = (
        this.config.databases ?? (await reader.databases()).filter((d) => !SYSTEM_DATABASES.has(d))
      ).sort();
      const collections: ArchiveCollection[] = [];
      const skipped: string[] = [];
      for (const db of dbs) {
        const infos = (await reader.collections(db)).sort((a, b) =>
          a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
        );
        for (const info of infos) {
          if (info.name.startsWith('system.') || info.type === 'timeseries') {
            skipped.push(`${db}.${info.name}`);
            continue;
          }
          const indexes = info.type === 'view' ? [] : await reader.indexes(db, info.name);
          const metadata: Record<string, unknown> = {};
          if (Object.keys(info.options).length > 0) metadata.options = info.options;
          metadata.indexes = indexes;
          if (info.uuid) metadata.uuid = info.uuid;
          metadata.collectionName = info.name;
          metadata.type = info.type;
          collections.push({
            db,
            collection: info.name,
            type: info.type,
            metadata: EJSON.stringify(metadata, { relaxed: false }),
          });
        }
      }
      const documents: Record<string, number> = {};
      let bytes = 0;
      const stream = writeArchive(
        { serverVersion: reader.serverVersion, toolVersion: `lifeboat ${VERSION}` },
        collections,
        (c) => reader.documents(c.db, c.collection),
        (c, w) => {
          documents[`${c.db}.${c.collection}`] = w.documents;
        },
      );
      ctx.progress.start(`backup ${this.name}`);
      const root = await saveArtifacts(ctx.store, [
        {
          name: ARTIFACT,
          stream: (async function* () {
            for await (const chunk of stream) {
              bytes += chunk.length;
              ctx.progress.advance(chunk.length);
              yield chunk;
            }
          })(),
        },
      ]);
      ctx.progress.done();
      for (const c of collections) if (c.type === 'view') documents[`${c.db}.${c.collection}`] = 0;
      return {
        root,
        stats: {
          documents,
          documentsTotal: Object.values(documents).reduce((a, b) => a + b, 0),
          collections: collections.length,
          bytes,
        },
        meta: {
          artifact: ARTIFACT,
          server: display,
          serverVersion: reader.serverVersion,
          consistent: reader.snapshot ? 'snapshot' : 'per-collection',
          views: collections.filter((c) => c.type === 'view').map((c) => `${c.db}.${c.collection}`),
          skipped,
        },
      };
    } catch (err) {
      if (isLifeboatError(err)) throw err;
      throw new LifeboatError(
        'source_failed',
        `[source:mongodb] backup of ${display} failed: ${describe(err)}`,
        {
          cause: err,
        },
      );
    } finally {
      await reader.close().catch(() => {});
    }
  }

  /** Documents the target holds now in the collections the snapshot would replace. */
  async inspectTarget(to: string | undefined, { stats }: RecordedSnapshot): Promise<TargetContents> {
    const url = to ?? this.config.url;
    const namespaces = Object.keys((stats.documents ?? {}) as Record<string, number>).sort();
    const target = await this.connect.target(url);
    try {
      const items: string[] = [];
      let total = 0;
      for (const ns of namespaces) {
        const [db, coll] = splitNs(ns);
        const n = await target.count(db, coll);
        if (n === undefined) continue;
        total += n;
        items.push(`${ns}: ${n} documents`);
      }
      const summary =
        items.length === 0 ? 'none of its collections' : `${items.length} collections, ${total} documents`;
      return { target: mongoDisplay(url), exists: items.length > 0, summary, items };
    } finally {
      await target.close().catch(() => {});
    }
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    const url = options.to ?? this.config.url;
    if (!/^mongodb(\+srv)?:\/\//.test(url)) {
      throw new LifeboatError(
        'usage',
        '[source:mongodb] --to must be a MongoDB URL (mongodb://... or mongodb+srv://...)',
      );
    }
    if ((options.tables ?? []).length > 0 || options.pattern !== undefined || options.db !== undefined) {
      throw new LifeboatError(
        'usage',
        '[source:mongodb] use --collection NAME (or DB.NAME) to restore part of a MongoDB snapshot',
      );
    }
    const display = mongoDisplay(url);
    const recorded = (ctx.stats.documents ?? {}) as Record<string, number>;
    const selected = selectNamespaces(Object.keys(recorded), options.collections ?? []);
    const nodes = await loadArtifacts(ctx.store, ctx.root);
    const node = nodes.find((n) => n.name === ARTIFACT) ?? nodes[0];
    if (!node) {
      throw new LifeboatError(
        'repo_corrupt',
        `[source:mongodb] snapshot root ${ctx.root.slice(0, 8)} holds no archive (run lifeboat check)`,
      );
    }
    const items = [...selected]
      .sort()
      .map((ns) => `${ns}: ${recorded[ns]} document${recorded[ns] === 1 ? '' : 's'}`);
    const target = await this.connect.target(url);
    try {
      if (!options.overwrite) {
        const busy: string[] = [];
        for (const ns of [...selected].sort()) {
          const [db, coll] = splitNs(ns);
          if (((await target.count(db, coll)) ?? 0) > 0) busy.push(ns);
        }
        if (busy.length > 0) {
          throw new LifeboatError(
            'target_not_empty',
            `[source:mongodb] ${display} already holds documents in ${busy.join(', ')} (pass --overwrite to drop and replace them, or --to another server)`,
          );
        }
      }
      if (options.dryRun) return { target: display, items, stats: { documents: pick(recorded, selected) } };

      ctx.progress.start(`restore ${this.name}`, node.size);
      const stream = (async function* () {
        for await (const chunk of readArtifact(ctx.store, node)) {
          ctx.progress.advance(chunk.length);
          yield chunk;
        }
      })();
      let restored: Record<string, number>;
      try {
        restored = await restoreArchive(stream, target, { selected });
      } catch (err) {
        if (err instanceof ArchiveFormatError) {
          throw new LifeboatError(
            'integrity',
            `[source:mongodb] the snapshot's archive cannot be read: ${err.message} (run lifeboat check --read-data)`,
            { cause: err },
          );
        }
        if (isLifeboatError(err)) throw err;
        throw new LifeboatError(
          'source_failed',
          `[source:mongodb] restore into ${display} failed: ${describe(err)}`,
          { cause: err },
        );
      }
      ctx.progress.done();
      // Check what the server now holds against what the snapshot recorded.
      const diffs: string[] = [];
      for (const ns of selected) {
        const [db, coll] = splitNs(ns);
        const have = await target.count(db, coll);
        if (have !== recorded[ns])
          diffs.push(`${ns}: ${have ?? 'missing'} documents, the snapshot recorded ${recorded[ns]}`);
      }
      if (diffs.length > 0) {
        throw new LifeboatError(
          'integrity',
          `[source:mongodb] after restoring into ${display}: ${diffs.join('; ')}`,
        );
      }
      return {
        target: display,
        items,
        stats: {
          documents: restored,
          documentsTotal: Object.values(restored).reduce((a, b) => a + b, 0),
          collections: selected.size,
          bytes: node.size,
        },
      };
    } finally {
      await target.close().catch(() => {});
    }
  }
}

/** Namespaces chosen by --collection ("coll" matches it in any database, "db.coll" exactly). */
export function selectNamespaces(all: string[], wanted: string[]): Set<string> {
  if (wanted.length === 0) return new Set(all);
  const out = new Set<string>();
  const missing: string[] = [];
  for (const w of wanted) {
    const hits = all.filter((ns) => ns === w || ns.slice(ns.indexOf('.') + 1) === w);
    if (hits.length === 0) missing.push(w);
    for (const h of hits) out.add(h);
  }
  if (missing.length > 0) {
    throw new LifeboatError(
      'not_found',
      `[source:mongodb] collection ${missing.map((m) => `"${m}"`).join(', ')} not in the snapshot (collections: ${all.join(', ') || 'none'})`,
    );
  }
  return out;
}

function splitNs(ns: string): [string, string] {
  const dot = ns.indexOf('.');
  return [ns.slice(0, dot), ns.slice(dot + 1)];
}

function pick(all: Record<string, number>, keys: Set<string>): Record<string, number> {
  return Object.fromEntries(Object.entries(all).filter(([k]) => keys.has(k)));
}
