/**
 * @module web/api
 * The dashboard's only way to the server: JSON calls with the bearer token from
 * sessionStorage (never a cookie, so no cross-site request can use it; never in a URL).
 * The types of what it sends and gets are inferred from the server's API schemas (the same
 * ones that validate requests and generate /api/openapi.json), imported for their types only,
 * so a field changed there fails the dashboard's type check and nothing of zod is bundled.
 */

export type {
  AlertJson as Alert,
  AppJson as App,
  AppPlanJson as AppPlan,
  AuditEntryJson as AuditEntry,
  AuditPageJson as AuditPage,
  DrillJson as Drill,
  EngineJson as Engine,
  JobJson as Job,
  PointJson as Point,
  RestoreRequestJson as RestoreRequest,
  RestoreScopeJson as RestoreScope,
  SnapshotJson as Snapshot,
  SnapshotProblemJson as SnapshotProblem,
  SourceJson as SourceStatus,
  StatsJson as Stats,
  TreeEntryJson as TreeEntry,
  WhoamiJson as Me,
  WorkersJson as Workers,
} from '../../src/server/api-schemas.js';

import type { WhoamiJson as Me } from '../../src/server/api-schemas.js';

const TOKEN_KEY = 'lifeboat.token';

export type Role = Me['role'];

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether the signed-in token's role is at least `role`. */
export function can(me: Me, role: Role): boolean {
  return ROLE_RANK[me.role] >= ROLE_RANK[role];
}

/** Job statuses, and those a job does not leave (the catalog's own lists: plain constants, bundled). */
export { FINAL_STATUSES as FINAL, JOB_STATUSES } from '../../src/catalog/job-states.js';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};

/** Called when the server answers 401 (a revoked token): the app signs out. */
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

async function request(path: string, method: string, body?: unknown, token = getToken()): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const data = await res.json();
      message = data?.error?.message ?? message;
    } catch {}
    if (res.status === 401) onUnauthorized();
    throw new ApiFailure(res.status, message);
  }
  return res;
}

export async function get<T>(path: string): Promise<T> {
  return (await request(path, 'GET')).json();
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  return (await request(path, 'POST', body ?? {})).json();
}

/** Checks a token before keeping it. */
export async function signIn(token: string): Promise<Me> {
  const res = await request('/api/whoami', 'GET', undefined, token);
  const me = (await res.json()) as Me;
  setToken(token);
  return me;
}

/** Downloads one file of a snapshot with the token in a header (a plain link cannot carry it). */
export async function download(snapshot: string, path: string): Promise<void> {
  const res = await request(`/api/snapshots/${snapshot}/file?path=${encodeURIComponent(path)}`, 'GET');
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = path.split('/').pop() || 'file';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
