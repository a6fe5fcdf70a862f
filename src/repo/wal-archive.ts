/**
 * @module repo/wal-archive
 * The names check, copy, prune and key rotation use for the archive's objects (kept so
 * those callers need no change): aliases of repo/object-archive.ts, which knows nothing of
 * WAL. PostgreSQL's naming lives in sources/postgres/wal-names.ts.
 */
export {
  type ArchivedObject as WalObject,
  archivedObjectName as walObjectName,
  listAllObjects as listAllWal,
  listObjects as listWal,
  resealObject as resealWalObject,
  sourceTag,
  verifyObject as verifyWalObject,
} from './object-archive.js';
