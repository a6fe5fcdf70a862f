/**
 * @module test/catalog/audit-appender
 * A separate process for the catalog contract's concurrency case: opens the PostgreSQL
 * catalog at argv URL and SCHEMA and appends COUNT audit entries as actor NAME.
 * Usage: node audit-appender.js URL SCHEMA COUNT NAME
 */
import { PgCatalog } from '../../src/catalog/pg-catalog.js';
import { systemClock } from '../../src/clock.js';

const [url, schema, count, name] = process.argv.slice(2);
const catalog = await PgCatalog.open(url, systemClock, { schema, poolSize: 2 });
try {
  for (let i = 0; i < Number(count); i++) {
    await catalog.audit.append({ actor: name, action: 'test.append', target: String(i) });
  }
} finally {
  await catalog.close();
}
