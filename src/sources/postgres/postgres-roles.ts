/**
 * @module sources/postgres/postgres-roles
 * The roles a database archive names (owners in its table of contents; grantees and grantors
 * in its privilege and policy statements) and their creation, NOLOGIN and with no other
 * attribute, on a target that lacks them: what a drill into a scratch cluster needs when no
 * globals were saved, so that `ALTER ... OWNER TO` and `GRANT` find their roles.
 */
import { type PgClient, query, quoteIdent } from './postgres-catalog.js';
import type { TocEntry } from './postgres-toc.js';

/** Entries whose SQL names roles beyond their owner. */
export const ROLE_NAMING = new Set(['ACL', 'DEFAULT ACL', 'POLICY']);

/** The owner printed at the end of an entry ("orders app_owner" -> "app_owner"). */
export function ownerOf(e: TocEntry): string | undefined {
  const words = e.rest.trimEnd().split(' ');
  return words.length > 1 ? words[words.length - 1] : undefined;
}

const IDENT = `"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*`;
const ROLE_LIST = new RegExp(
  String.raw`\b(?:TO|FROM|FOR ROLE|SESSION AUTHORIZATION|GRANTED BY)\s+((?:${IDENT})(?:\s*,\s*(?:${IDENT}))*)`,
  'g',
);
const ONE = new RegExp(IDENT, 'g');
/** Words after TO/FROM that are not roles. */
const NOT_ROLES = new Set([
  'public',
  'current_user',
  'session_user',
  'current_role',
  'default',
  'stdin',
  'stdout',
]);

/**
 * Role names in GRANT / REVOKE / ALTER DEFAULT PRIVILEGES / CREATE POLICY statements as
 * pg_restore prints them. Unquoted names are folded to lower case, as the server does. A
 * word taken for a role by mistake costs only an unused NOLOGIN role in a scratch cluster.
 */
export function rolesInSql(sql: string): string[] {
  const out = new Set<string>();
  for (const line of sql.split('\n')) {
    if (
      !/^\s*(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES|CREATE POLICY|SET SESSION AUTHORIZATION)\b/i.test(line)
    ) {
      continue;
    }
    for (const m of line.matchAll(ROLE_LIST)) {
      for (const [word] of m[1].matchAll(ONE)) {
        const name = word.startsWith('"') ? word.slice(1, -1).replace(/""/g, '"') : word.toLowerCase();
        if (word.startsWith('"') || !NOT_ROLES.has(name)) out.add(name);
      }
    }
  }
  return [...out];
}

/** Owners of the entries, and the roles their privilege statements name. */
export function archiveRoles(entries: TocEntry[], roleSql: string): string[] {
  const names = new Set<string>();
  for (const e of entries) {
    const owner = ownerOf(e);
    if (owner) names.add(owner);
  }
  for (const r of rolesInSql(roleSql)) names.add(r);
  return [...names].sort();
}

/** Creates, NOLOGIN, those of `roles` the server lacks; returns their names. */
export async function createMissingRoles(client: PgClient, roles: string[]): Promise<string[]> {
  if (roles.length === 0) return [];
  const present = await query<{ name: string }>(
    client,
    'SELECT rolname AS name FROM pg_roles WHERE rolname = ANY($1)',
    [roles],
    'listing roles',
  );
  const have = new Set(present.map((r) => r.name));
  const missing = roles.filter((r) => !have.has(r));
  for (const r of missing) {
    await query(client, `CREATE ROLE ${quoteIdent(r)} NOLOGIN`, [], `creating role ${r}`);
  }
  return missing;
}
