/**
 * @module web/api
 * The dashboard's only way to the server: JSON calls with the bearer token from
 * sessionStorage (never a cookie, so no cross-site request can use it; never in a URL).
 */

const TOKEN_KEY = 'lifeboat.token';

export type Role = 'viewer' | 'operator' | 'admin';

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether the signed-in token's role is at least `role`. */
export function can(me: Me, role: Role): boolean {
  return ROLE_RANK[me.role] >= ROLE_RANK[role];
}

export interface Me {
  name: string;
  role: Role;
}

export interface Job {
  id: string;
  kind: string;
  source: string | null;
  trigger: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_seconds: number | null;
  bytes_read: number | null;
  bytes_stored: number | null;
  snapshot: string | null;
  snapshots: string[];
  error: string | null;
  requested_by: string | null;
  approved_by: string | null;
  params: Record<string, unknown>;
  result: Record<string, unknown> | null;
  progress?: {
    phase: string;
    bytes_done: number;
    bytes_total: number | null;
    phases_done: number;
    updated_at: string;
  } | null;
}

export interface SourceStatus {
  name: string;
  type: string;
  protected: boolean;
  schedule: { cron: string; timezone: string } | null;
  next_run: string | null;
  schedule_error?: string;
  /** The newest backup that saved every unit; `units`: each unit's snapshot. */
  last_backup: {
    snapshot: string;
    time: string;
    age_seconds: number;
    units?: { unit: string; label: string; snapshot: string; time: string }[];
  } | null;
  rpo: { max_age: string; max_age_seconds: number; age_seconds: number | null; breached: boolean } | null;
  last_failure: { job: string; time: string; error: string | null } | null;
  last_job: { id: string; status: string; time: string } | null;
  running_job: string | null;
  snapshots: number;
}

export interface Snapshot {
  id: string;
  short_id: string;
  time: string;
  source: string;
  engine: string;
  kind: string;
  host: string;
  tags: string[];
  stats: Record<string, unknown>;
  meta?: Record<string, unknown>;
  /** For a unit of a source saved as several: "shop (database)", "globals (roles and tablespaces)". */
  unit?: { source: string; name: string; label: string } | null;
  backup?: { bytesRead: number; bytesAdded: number; durationMs: number };
  /** Paths the backup could not read (the first 100) and how many there were in all. */
  skipped?: { path: string; error: string }[];
  skippedCount?: number;
}

/** A way to narrow a restore, as the engine declares it (GET /api/engines). */
export interface RestoreScope {
  /** The field of POST /api/restores it fills ("tables"). */
  field: string;
  flag: string;
  /** 'names': a list; 'text': one string; 'integer': one whole number. */
  type: 'names' | 'text' | 'integer';
  help: string;
  /** "Only these tables" */
  label: string;
  /** The snapshot statistic whose keys are the choices ("rows"). */
  choices?: string;
}

/** A source engine as it declares itself (GET /api/engines). */
export interface Engine {
  type: string;
  scopes: RestoreScope[];
  data_only: boolean;
  privileges: boolean;
}

/** A snapshot file that does not read: left out of the listing, named so it can be forgotten. */
export interface SnapshotProblem {
  id: string;
  kind: 'damaged' | 'unreadable';
  message: string;
}

export interface TreeEntry {
  name: string;
  type: string;
  size: number | null;
  mode: number | null;
  mtime: string | null;
  sha256: string | null;
  target: string | null;
}

export interface Drill {
  id: string;
  time: string;
  source: string;
  snapshot: string;
  passed: boolean;
  rto_ms: number | null;
  restore_ms: number | null;
  failed_checks: string[];
  error: string | null;
}

export interface Alert {
  key: string;
  kind: string;
  source: string | null;
  state: 'firing' | 'resolved';
  summary: string;
  first_at: string;
  resolved_at: string | null;
  sends: number;
}

export interface AuditEntry {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
}

export const FINAL = ['succeeded', 'failed', 'skipped', 'interrupted', 'rejected'];

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
