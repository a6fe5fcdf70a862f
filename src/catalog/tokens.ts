/**
 * @module catalog/tokens
 * API tokens: 32 random bytes shown once, stored as their SHA-256 (a fast hash is enough for
 * high-entropy secrets: there is no password to guess). The API's roles are ordered
 * viewer < operator < admin; a `worker` token is outside that order: it passes only the
 * remote workers' routes (server/routes/worker-routes), and only for the labels stored with
 * it. Every change is written to the audit log.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Clock } from '../clock.js';
import { LifeboatError } from '../errors.js';
import type { AuditLog } from './audit-log.js';

export const ROLES = ['viewer', 'operator', 'admin', 'worker'] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3, worker: 0 };

/** True when `have` may do what needs `need`; a worker token and the worker routes only meet each other. */
export function roleAllows(have: Role, need: Role): boolean {
  if (have === 'worker' || need === 'worker') return have === need;
  return RANK[have] >= RANK[need];
}

/** What a worker token may claim: `{ host: 'db1' }`. Null for the other roles. */
export type TokenLabels = Record<string, string>;

/** Checks the labels against the role: required for a worker token, refused for the others. */
export function checkTokenLabels(role: Role, labels: TokenLabels | null | undefined): TokenLabels | null {
  const given = labels && Object.keys(labels).length > 0 ? labels : null;
  if (role === 'worker' && !given) {
    throw new LifeboatError(
      'usage',
      '[token] a worker token needs --labels (the labels its worker may claim jobs for, e.g. --labels host=db1)',
    );
  }
  if (role !== 'worker' && given) {
    throw new LifeboatError(
      'usage',
      `[token] --labels is for worker tokens only (this one has role ${role})`,
    );
  }
  return given;
}

/** Checks a new token's name and labels (both stores); returns the labels to store. */
export function checkNewToken(
  name: string,
  role: Role,
  labels: TokenLabels | null | undefined,
): TokenLabels | null {
  if (!TOKEN_NAME_PATTERN.test(name)) {
    throw new LifeboatError(
      'usage',
      `[token] "${name}" is not a valid token name (use up to 64 letters, digits, ".", "_", "@" and "-")`,
    );
  }
  return checkTokenLabels(role, labels);
}

/** A token as authentication finds it. */
export interface TokenCaller {
  name: string;
  role: Role;
  labels: TokenLabels | null;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export interface TokenInfo {
  name: string;
  role: Role;
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  labels: TokenLabels | null;
}

export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const TOKEN_PREFIX = 'lb_';

/** A new token secret: the prefix and 32 random bytes. */
export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Whether a presented token could be one of ours at all (before any lookup). */
export function looksLikeToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX) && token.length <= 200;
}

/** 16 hex characters: short enough to type a prefix of, random enough never to collide. */
export function newJobId(): string {
  return randomBytes(8).toString('hex');
}

/** A stored labels column (JSON text in SQLite, jsonb in PostgreSQL) as labels. */
export function parseLabels(stored: string | TokenLabels | null): TokenLabels | null {
  if (stored === null) return null;
  return typeof stored === 'string' ? (JSON.parse(stored) as TokenLabels) : stored;
}

/** The audit details of a token change. */
export function tokenDetails(role: Role, labels: TokenLabels | null): Record<string, unknown> {
  return labels ? { role, labels } : { role };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Tokens in the SQLite catalog: the catalog's TokenStoreApi. */
export class TokenStore {
  /** Prepared once: authentication runs on every API request. */
  private readonly byHash: Database.Statement;
  private readonly touchStmt: Database.Statement;
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {
    this.byHash = db.prepare('SELECT name, role, labels FROM tokens WHERE hash = ?');
    this.touchStmt = db.prepare(
      'UPDATE tokens SET last_used_at = ? WHERE name = ? AND (last_used_at IS NULL OR last_used_at < ?)',
    );
  }

  /** Creates a token and returns its secret, which is not stored and cannot be shown again. */
  async create(
    name: string,
    role: Role,
    actor: string,
    labels?: TokenLabels | null,
  ): Promise<{ token: string; info: TokenInfo }> {
    const scope = checkNewToken(name, role, labels);
    const token = newTokenSecret();
    const now = this.clock.now().toISOString();
    const insert = this.db.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM tokens WHERE name = ?').get(name);
      if (exists) {
        throw new LifeboatError(
          'usage',
          `[token] a token named "${name}" exists; revoke it first (lifeboat token revoke ${name}) or pick another name`,
        );
      }
      this.db
        .prepare(
          'INSERT INTO tokens (name, role, hash, created_at, created_by, labels) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(name, role, hashToken(token), now, actor, scope ? JSON.stringify(scope) : null);
      this.audit.appendNow({
        actor,
        action: 'token.create',
        target: name,
        details: tokenDetails(role, scope),
      });
    });
    insert.immediate();
    return {
      token,
      info: { name, role, created_at: now, created_by: actor, last_used_at: null, labels: scope },
    };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = this.db
      .prepare('SELECT name, role, created_at, created_by, last_used_at, labels FROM tokens ORDER BY name')
      .all() as (Omit<TokenInfo, 'labels'> & { labels: string | null })[];
    return rows.map((r) => ({ ...r, labels: parseLabels(r.labels) }));
  }

  async revoke(name: string, actor: string): Promise<void> {
    const remove = this.db.transaction(() => {
      const row = this.db.prepare('SELECT role FROM tokens WHERE name = ?').get(name) as
        | { role: string }
        | undefined;
      if (!row) {
        throw new LifeboatError(
          'not_found',
          `[token] no token named "${name}" (list them with \`lifeboat token list\`)`,
        );
      }
      this.db.prepare('DELETE FROM tokens WHERE name = ?').run(name);
      this.audit.appendNow({ actor, action: 'token.revoke', target: name, details: { role: row.role } });
    });
    remove.immediate();
  }

  /** The token's name and role, or undefined when it is not a valid token. */
  async authenticate(token: string): Promise<TokenCaller | undefined> {
    if (!looksLikeToken(token)) return undefined;
    const row = this.byHash.get(hashToken(token)) as
      | { name: string; role: Role; labels: string | null }
      | undefined;
    return row && { name: row.name, role: row.role, labels: parseLabels(row.labels) };
  }

  /** Records use, at most once a minute per token, so requests do not write to the catalog. */
  async touch(name: string): Promise<void> {
    const now = this.clock.now();
    const last = this.touched.get(name);
    if (last !== undefined && now.getTime() - last < 60_000 && now.getTime() >= last) return;
    this.touched.set(name, now.getTime());
    const cutoff = new Date(now.getTime() - 60_000).toISOString();
    this.touchStmt.run(now.toISOString(), name, cutoff);
  }
}
