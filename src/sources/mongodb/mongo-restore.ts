/**
 * @module sources/mongodb/mongo-restore
 * Restores collections from a mongodump archive stream into a server, as mongorestore --drop
 * does: each chosen collection is dropped and created again with its options, its documents
 * inserted in batches (decoded without promoting values, so every BSON type comes back as it
 * was), then its indexes created; views last. Memory stays within one batch.
 */
import { BSON, type Document, EJSON } from 'bson';
import { LifeboatError } from '../../errors.js';
import { type ArchiveCollection, readArchive } from './mongo-archive.js';
import type { MongoRestoreTarget } from './mongo-driver.js';

export interface MongoRestorePlan {
  /** Namespaces ("db.collection") to restore. */
  selected: Set<string>;
  batchDocuments?: number;
  batchBytes?: number;
}

export interface CollectionMetadata {
  options: Document;
  indexes: Document[];
  uuid?: string;
  type: string;
}

export function parseMetadata(c: ArchiveCollection): CollectionMetadata {
  const m = (c.metadata ? EJSON.parse(c.metadata, { relaxed: false }) : {}) as Document;
  return {
    options: (m.options ?? {}) as Document,
    indexes: (m.indexes ?? []) as Document[],
    uuid: typeof m.uuid === 'string' ? m.uuid : undefined,
    type: String(m.type ?? c.type ?? 'collection'),
  };
}

/** Documents restored per namespace. */
export async function restoreArchive(
  stream: AsyncIterable<Uint8Array>,
  target: MongoRestoreTarget,
  plan: MongoRestorePlan,
): Promise<Record<string, number>> {
  const maxDocs = plan.batchDocuments ?? 1000;
  const maxBytes = plan.batchBytes ?? 16 * 1024 * 1024;
  const meta = new Map<string, { c: ArchiveCollection; m: CollectionMetadata }>();
  const prepared = new Set<string>();
  const restored: Record<string, number> = {};
  let batch: Document[] = [];
  let batchBytes = 0;
  let batchNs = '';

  const split = (ns: string) => {
    const c = meta.get(ns)?.c;
    if (c) return [c.db, c.collection] as const;
    const dot = ns.indexOf('.');
    return [ns.slice(0, dot), ns.slice(dot + 1)] as const;
  };
  const prepare = async (ns: string) => {
    if (prepared.has(ns)) return;
    prepared.add(ns);
    const [db, coll] = split(ns);
    await target.drop(db, coll);
    await target.create(db, coll, meta.get(ns)?.m.options ?? {});
  };
  const flush = async () => {
    if (batch.length === 0) return;
    const [db, coll] = split(batchNs);
    await target.insertMany(db, coll, batch);
    restored[batchNs] = (restored[batchNs] ?? 0) + batch.length;
    batch = [];
    batchBytes = 0;
  };

  await readArchive(stream, {
    prelude: (p) => {
      for (const c of p.collections) meta.set(`${c.db}.${c.collection}`, { c, m: parseMetadata(c) });
    },
    document: async (ns, doc) => {
      if (!plan.selected.has(ns)) return;
      if (ns !== batchNs) {
        await flush();
        batchNs = ns;
      }
      await prepare(ns);
      batch.push(BSON.deserialize(doc, { promoteValues: false, bsonRegExp: true }));
      batchBytes += doc.length;
      if (batch.length >= maxDocs || batchBytes >= maxBytes) await flush();
    },
    end: async (ns, documents) => {
      if (!plan.selected.has(ns)) return;
      if (batchNs === ns) await flush();
      await prepare(ns);
      restored[ns] ??= 0;
      if (restored[ns] !== documents) {
        throw new LifeboatError(
          'integrity',
          `[source:mongodb] ${ns}: ${restored[ns]} documents inserted, the archive holds ${documents}`,
        );
      }
      const [db, coll] = split(ns);
      const indexes = (meta.get(ns)?.m.indexes ?? [])
        .filter((i) => i.name !== '_id_')
        .map(({ v: _v, ns: _ns, ...spec }) => spec);
      await target.createIndexes(db, coll, indexes);
    },
  });

  // Views last: they may name collections restored above.
  for (const [ns, { c, m }] of meta) {
    if (m.type !== 'view' || !plan.selected.has(ns)) continue;
    await target.drop(c.db, c.collection);
    await target.create(c.db, c.collection, m.options);
    restored[ns] = 0;
  }
  return restored;
}
