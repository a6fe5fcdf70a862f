/**
 * @module sources/postgres/postgres-target
 * What a PostgreSQL restore target database holds now: its tables and their rows (exact up
 * to a size, the planner's estimate above), for a restore plan. Read only.
 */
import type { TargetContents } from '../source.js';
import { connect, countRows, databaseExists } from './postgres-catalog.js';
import { describeTarget, withDatabase } from './postgres-connection.js';
import { restoreTarget } from './postgres-restore.js';

/** Tables up to this size are counted exactly; bigger ones are estimated. */
const EXACT_LIMIT = 64 * 1024 * 1024;

export async function inspectPostgresTarget(
  source: { name: string; config: { url: string } },
  to: string | undefined,
  meta: Record<string, unknown>,
): Promise<TargetContents> {
  const database = typeof meta.database === 'string' ? meta.database : 'postgres';
  const conn = restoreTarget(source.config.url, database, to);
  const target = describeTarget(conn);
  const admin = await connect(withDatabase(conn, 'postgres'), source.name);
  let exists: boolean;
  try {
    exists = await databaseExists(admin, conn.database ?? database);
  } finally {
    await admin.end().catch(() => {});
  }
  if (!exists) return { target, exists: false, summary: 'no such database (will be created)' };
  const client = await connect(conn, source.name);
  try {
    const { rows, estimated } = await countRows(client, EXACT_LIMIT);
    const names = Object.keys(rows);
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    const items = names.map((t) => `${t}: ${estimated.includes(t) ? '~' : ''}${rows[t]} rows`);
    const summary = names.length === 0 ? 'no tables' : `${names.length} tables, ${total} rows`;
    return { target, exists: true, summary, items };
  } finally {
    await client.end().catch(() => {});
  }
}
