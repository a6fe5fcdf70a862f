/**
 * @module web/restore
 * The restore wizard: source, the unit for a source saved as several (each with its label,
 * "shop (database)"), restore point on a timeline, target and scope with the options that fit
 * it, both as the snapshot's engine declares them (GET /api/engines: tables, schemas,
 * collections, paths, key patterns; data only, no privileges and device nodes), a dry run first, then the restore, which for a protected source or
 * target waits for a second admin. Admins see the restores awaiting approval and approve
 * those they did not request.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import {
  can,
  type Engine,
  FINAL,
  get,
  type Job,
  type Me,
  post,
  query,
  type RestoreScope,
  type Snapshot,
  type SourceStatus,
} from './api';
import { bytes, short, time } from './format';
import { useLoad } from './hooks';
import { Failure } from './ui';

function Timeline({
  snapshots,
  chosen,
  onChoose,
}: {
  snapshots: Snapshot[];
  chosen: string | undefined;
  onChoose: (id: string) => void;
}) {
  // The strip shows where the points fall in time; the radio buttons below are the control.
  if (snapshots.length === 0) return <p>This source has no snapshots yet.</p>;
  const times = snapshots.map((s) => Date.parse(s.time));
  const min = Math.min(...times);
  const span = Math.max(1, Math.max(...times) - min);
  return (
    <fieldset class="timeline-box">
      <legend>Restore point</legend>
      <div class="timeline" aria-hidden="true">
        {snapshots.map((s, i) => (
          <span
            key={s.id}
            class={`dot${s.id === chosen ? ' chosen' : ''}`}
            style={{ left: `${((times[i] - min) / span) * 100}%` }}
            title={time(s.time)}
          />
        ))}
      </div>
      <div class="points" role="radiogroup" aria-label="Snapshots, newest first">
        {snapshots.map((s) => (
          <label key={s.id} class="point">
            <input
              type="radio"
              name="restore-point"
              value={s.id}
              checked={s.id === chosen}
              onChange={() => onChoose(s.id)}
            />
            {time(s.time)} <code>{s.short_id}</code> {s.unit && <span class="tag">{s.unit.label}</span>}{' '}
            <span class="muted">{bytes(typeof s.stats.bytes === 'number' ? s.stats.bytes : null)}</span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/** "2 tables (users: 120 rows, orders: 0 rows)", "14 files, 3 folders, 2.1 MiB": what a restore's stats say. */
function summarize(result: Record<string, unknown>): string {
  const stats = (result.stats ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if (stats.rows && typeof stats.rows === 'object') {
    const rows = Object.entries(stats.rows as Record<string, number>);
    parts.push(
      `${rows.length} table${rows.length === 1 ? '' : 's'} (${rows.map(([t, n]) => `${t}: ${n} rows`).join(', ')})`,
    );
  }
  if (typeof stats.files === 'number') parts.push(`${stats.files} files`);
  if (typeof stats.dirs === 'number') parts.push(`${stats.dirs} folders`);
  if (typeof stats.keysTotal === 'number') parts.push(`${stats.keysTotal} keys`);
  if (typeof stats.documentsTotal === 'number') parts.push(`${stats.documentsTotal} documents`);
  if (typeof stats.bytes === 'number') parts.push(bytes(stats.bytes));
  if (parts.length === 0) parts.push(`${Number(result.items ?? 0)} items`);
  return parts.join(', ');
}

/** The restore's options as the job records them: "data only", "no privileges, devices". */
function optionsOf(params: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (params.data_only === true)
    out.push('data only (rows replaced in one transaction; definitions and dependents untouched)');
  if (params.no_privileges === true) out.push('no privileges (setuid/setgid bits dropped)');
  if (params.no_privileges === true)
    out.push(params.devices === true ? 'device nodes created' : 'device nodes refused');
  if (params.overwrite === true) out.push('replaces what is at the target');
  return out;
}

function JobState({ id, onFinal }: { id: string; onFinal?: (job: Job) => void }) {
  const job = useLoad(
    () => get<{ job: Job }>(`/api/jobs/${id}`).then((r) => r.job),
    [id],
    (j) => {
      if (j && FINAL.includes(j.status)) {
        onFinal?.(j);
        return 0;
      }
      return 1000;
    },
  );
  const j = job.data;
  if (!j) return <p>Loading job {short(id)}…</p>;
  const dry = j.params.dry_run === true;
  return (
    <div class="job-state" data-testid="restore-job" data-status={j.status}>
      <p>
        {dry ? 'Dry run' : 'Restore'} job <code>{short(j.id)}</code>:{' '}
        <span class={`badge ${j.status === 'succeeded' ? 'good' : FINAL.includes(j.status) ? 'bad' : 'run'}`}>
          {j.status === 'awaiting_approval' ? 'awaiting approval' : j.status}
        </span>
        {j.approved_by && <> · approved by {j.approved_by}</>}
      </p>
      {j.status === 'awaiting_approval' && (
        <p role="status">
          This restore touches a protected source or target: a second admin (not {j.requested_by}) must
          approve it on this page.
        </p>
      )}
      {optionsOf(j.params).length > 0 && (
        <p data-testid="restore-options">Options: {optionsOf(j.params).join('; ')}.</p>
      )}
      <Failure error={j.error} />
      {j.result && (
        <>
          <p>
            {dry ? 'Would restore' : 'Restored'} {summarize(j.result)} to{' '}
            <code>{String(j.result.target ?? '')}</code>.
          </p>
          <details>
            <summary>Details</summary>
            <pre class="result">{JSON.stringify(j.result, null, 2)}</pre>
          </details>
        </>
      )}
    </div>
  );
}

/** The names a scope offers as checkboxes: the keys of the snapshot statistic it names. */
function choicesOf(scope: RestoreScope, s: Snapshot): string[] {
  const stat = scope.choices ? s.stats[scope.choices] : undefined;
  return stat && typeof stat === 'object' ? Object.keys(stat) : [];
}

/** What the user gave for a scope, as the request takes it; undefined when nothing. */
function scopeValue(scope: RestoreScope, given: string[] | string | undefined): unknown {
  if (given === undefined) return undefined;
  if (Array.isArray(given)) return given.length > 0 ? given : undefined;
  const text = given.trim();
  if (!text) return undefined;
  if (scope.type === 'integer') return /^\d+$/.test(text) ? Number(text) : undefined;
  if (scope.type === 'text') return text;
  const names = text
    .split(/[\n,]/)
    .map((p) => p.trim())
    .filter(Boolean);
  return names.length > 0 ? names : undefined;
}

/** The control of one scope: checkboxes when the snapshot lists the choices, else a text field. */
function ScopeInput({
  scope,
  choices,
  value,
  onChange,
}: {
  scope: RestoreScope;
  choices: string[];
  value: string[] | string | undefined;
  onChange: (v: string[] | string) => void;
}) {
  if (scope.type === 'names' && choices.length > 0) {
    const picked = Array.isArray(value) ? value : [];
    return (
      <fieldset class="scope">
        <legend>{scope.label} (none checked: all)</legend>
        {choices.map((n) => (
          <label key={n} class="check">
            <input
              type="checkbox"
              checked={picked.includes(n)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                onChange(on ? [...picked, n] : picked.filter((x) => x !== n));
              }}
            />
            {n}
          </label>
        ))}
      </fieldset>
    );
  }
  const text = typeof value === 'string' ? value : '';
  if (scope.type === 'names') {
    return (
      <label>
        {scope.label} (one per line or comma-separated; empty: everything)
        <textarea rows={3} value={text} onInput={(e) => onChange(e.currentTarget.value)} />
      </label>
    );
  }
  return (
    <label>
      {scope.label} (empty: everything)
      <input
        type="text"
        inputMode={scope.type === 'integer' ? 'numeric' : 'text'}
        value={text}
        onInput={(e) => onChange(e.currentTarget.value)}
      />
    </label>
  );
}

/** The units among a source's snapshots, with their labels, in the order first seen. */
function unitsIn(snapshots: Snapshot[]): { source: string; label: string }[] {
  const seen = new Map<string, string>();
  for (const s of snapshots) if (s.unit && !seen.has(s.source)) seen.set(s.source, s.unit.label);
  return [...seen]
    .map(([source, label]) => ({ source, label }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

function UnitChoice({
  units,
  chosen,
  onChoose,
}: {
  units: { source: string; label: string }[];
  chosen: string;
  onChoose: (source: string) => void;
}) {
  return (
    <fieldset class="units" data-testid="restore-units">
      <legend>What to restore (this source is saved in parts)</legend>
      {units.map((u) => (
        <label key={u.source} class="check">
          <input
            type="radio"
            name="restore-unit"
            value={u.source}
            checked={u.source === chosen}
            onChange={() => onChoose(u.source)}
          />
          {u.label}
        </label>
      ))}
    </fieldset>
  );
}

/** A labelled checkbox of the wizard; any change also clears the dry run (`onAny`). */
function Check({
  checked,
  onChange,
  onAny,
  children,
}: {
  checked: boolean;
  onChange: (on: boolean) => void;
  onAny: () => void;
  children: ComponentChildren;
}) {
  return (
    <label class="check">
      <input
        type="checkbox"
        checked={checked}
        onChange={(e) => {
          onChange(e.currentTarget.checked);
          onAny();
        }}
      />
      {children}
    </label>
  );
}

function Wizard() {
  const [source, setSource] = useState('');
  const [unit, setUnit] = useState('');
  const [chosen, setChosen] = useState<string>();
  const [to, setTo] = useState('');
  /** What the user gave per scope field: checked names, or the text typed. */
  const [scoped, setScoped] = useState<Record<string, string[] | string>>({});
  const [overwrite, setOverwrite] = useState(false);
  const [dataOnly, setDataOnly] = useState(false);
  const [noPrivileges, setNoPrivileges] = useState(false);
  const [devices, setDevices] = useState(false);
  const [dryJob, setDryJob] = useState<string>();
  const [dryOk, setDryOk] = useState(false);
  const [realJob, setRealJob] = useState<string>();
  const [error, setError] = useState<string>();
  const sources = useLoad(() => get<{ sources: SourceStatus[] }>('/api/sources').then((r) => r.sources), []);
  const engines = useLoad(() => get<{ engines: Engine[] }>('/api/engines').then((r) => r.engines), []);
  const snaps = useLoad(
    () =>
      source
        ? get<{ snapshots: Snapshot[] }>(`/api/snapshots${query({ source, limit: 100 })}`).then((r) =>
            r.snapshots.filter((s) => s.kind !== 'drill'),
          )
        : Promise.resolve([] as Snapshot[]),
    [source],
  );
  const units = unitsIn(snaps.data ?? []);
  // A source saved in parts: one part at a time, each with its own restore points.
  const points =
    units.length > 1 ? (unit ? snaps.data?.filter((s) => s.source === unit) : undefined) : snaps.data;
  const snapshot = points?.find((s) => s.id === chosen);
  // The scopes and options are the engine's own declaration: nothing here names an engine.
  const engine = engines.data?.find((e) => e.type === snapshot?.engine);
  const scopes = engine?.scopes ?? [];
  const given = Object.fromEntries(
    scopes
      .map((sc) => [sc.field, scopeValue(sc, scoped[sc.field])] as const)
      .filter(([, v]) => v !== undefined),
  );
  const src = sources.data?.find((s) => s.name === source);
  // Rows alone can be replaced only for chosen tables or schemas, where the engine can.
  const offersDataOnly = !!engine?.data_only && Object.keys(given).length > 0;
  const offersPrivileges = !!engine?.privileges;
  const reset = () => {
    setDryJob(undefined);
    setDryOk(false);
    setRealJob(undefined);
    setError(undefined);
  };
  const request = (dryRun: boolean) => ({
    snapshot: chosen,
    source: snapshot?.source,
    to: to.trim(),
    ...given,
    ...(offersDataOnly && dataOnly ? { data_only: true } : {}),
    ...(offersPrivileges && noPrivileges ? { no_privileges: true } : {}),
    ...(offersPrivileges && noPrivileges && devices ? { devices: true } : {}),
    overwrite,
    dry_run: dryRun,
  });
  const submit = async (dryRun: boolean) => {
    setError(undefined);
    try {
      const r = await post<{ job: Job }>('/api/restores', request(dryRun));
      if (dryRun) {
        setDryOk(false);
        setRealJob(undefined);
        setDryJob(r.job.id);
      } else setRealJob(r.job.id);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="wizard" onSubmit={(e) => e.preventDefault()} aria-labelledby="wizard-h">
      <h2 id="wizard-h">New restore</h2>
      <ol class="steps">
        <li>
          <label>
            Source
            <select
              value={source}
              onChange={(e) => {
                setSource(e.currentTarget.value);
                setUnit('');
                setChosen(undefined);
                setScoped({});
                reset();
              }}
            >
              <option value="">choose a source</option>
              {sources.data?.map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name} ({s.type}){s.protected ? ' — protected' : ''}
                </option>
              ))}
            </select>
          </label>
          {src?.protected && (
            <p class="note">
              <strong>{src.name}</strong> is protected: the restore will wait for a second admin’s approval.
            </p>
          )}
        </li>
        {source && units.length > 1 && (
          <li>
            <UnitChoice
              units={units}
              chosen={unit}
              onChoose={(u) => {
                setUnit(u);
                setChosen(undefined);
                setScoped({});
                reset();
              }}
            />
          </li>
        )}
        {source && points && (
          <li>
            <Timeline
              snapshots={points}
              chosen={chosen}
              onChoose={(id) => {
                setChosen(id);
                setScoped({});
                reset();
              }}
            />
          </li>
        )}
        {snapshot && (
          <li>
            <fieldset>
              <legend>Target and scope</legend>
              <label>
                Restore to (a path or URL)
                <input
                  type="text"
                  value={to}
                  required
                  placeholder="/tmp/restored"
                  onInput={(e) => {
                    setTo(e.currentTarget.value);
                    reset();
                  }}
                />
              </label>
              {scopes.map((sc) => (
                <ScopeInput
                  key={sc.field}
                  scope={sc}
                  choices={choicesOf(sc, snapshot)}
                  value={scoped[sc.field]}
                  onChange={(v) => {
                    setScoped((m) => ({ ...m, [sc.field]: v }));
                    reset();
                  }}
                />
              ))}
              <Check checked={overwrite} onChange={setOverwrite} onAny={reset}>
                Replace what is at the target
              </Check>
              {offersDataOnly && (
                <Check checked={dataOnly} onChange={setDataOnly} onAny={reset}>
                  Data only: empty the chosen tables and load their rows in one transaction (definitions, and
                  what depends on them, stay as they are)
                </Check>
              )}
              {offersPrivileges && (
                <Check checked={noPrivileges} onChange={setNoPrivileges} onAny={reset}>
                  Without privileges: drop setuid/setgid bits and refuse device nodes
                </Check>
              )}
              {offersPrivileges && noPrivileges && (
                <Check checked={devices} onChange={setDevices} onAny={reset}>
                  Create device nodes all the same
                </Check>
              )}
            </fieldset>
          </li>
        )}
        {snapshot && (
          <li>
            <p>First a dry run: it shows what would be restored and writes nothing.</p>
            <button type="button" disabled={!to.trim()} onClick={() => submit(true)}>
              Dry run
            </button>
            {dryJob && <JobState id={dryJob} onFinal={(j) => setDryOk(j.status === 'succeeded')} />}
          </li>
        )}
        {dryOk && (
          <li>
            <button type="button" onClick={() => submit(false)} disabled={!!realJob}>
              Restore {short(chosen)} to {to}
            </button>
            {realJob && <JobState id={realJob} />}
          </li>
        )}
      </ol>
      <Failure error={error} />
    </form>
  );
}

function Approvals({ me }: { me: Me }) {
  const [message, setMessage] = useState('');
  const pending = useLoad(
    () => get<{ jobs: Job[] }>('/api/jobs?kind=restore&status=awaiting_approval').then((r) => r.jobs),
    [],
    () => 3000,
  );
  const decide = async (id: string, action: 'approve' | 'reject', done: string) => {
    setMessage('');
    try {
      await post(`/api/restores/${id}/${action}`);
      setMessage(done);
      pending.reload();
    } catch (err) {
      setMessage((err as Error).message);
    }
  };
  return (
    <section aria-labelledby="approvals-h" class="approvals">
      <h2 id="approvals-h">Awaiting approval</h2>
      <p role="status" aria-live="polite" class="status-line">
        {message}
      </p>
      {pending.data?.length === 0 && <p class="muted">No restore is waiting.</p>}
      <ul class="cards">
        {pending.data?.map((j) => (
          <li key={j.id} class="card" data-approval={j.id}>
            <p>
              Restore <code>{short(j.id)}</code> of <strong>{String(j.params.source ?? j.source)}</strong>{' '}
              snapshot <code>{short(String(j.params.snapshot ?? ''))}</code> to{' '}
              <code>{String(j.params.to ?? '')}</code>
            </p>
            {optionsOf(j.params).length > 0 && <p>Options: {optionsOf(j.params).join('; ')}.</p>}
            <p class="muted">
              requested by {j.requested_by} at {time(j.created_at)}
            </p>
            {j.requested_by === me.name ? (
              <p class="note">You requested it: another admin must approve.</p>
            ) : !can(me, 'admin') ? (
              <p class="note">An admin must approve it.</p>
            ) : null}
            <p class="actions">
              {can(me, 'admin') && j.requested_by !== me.name && (
                <>
                  <button
                    type="button"
                    onClick={() =>
                      decide(j.id, 'approve', `Approved restore ${short(j.id)}; it runs now (see History).`)
                    }
                    aria-label={`Approve restore ${short(j.id)}`}
                  >
                    Approve
                  </button>{' '}
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      decide(j.id, 'reject', `Rejected restore ${short(j.id)}; it will not run.`)
                    }
                    aria-label={`Reject restore ${short(j.id)}`}
                  >
                    Reject
                  </button>
                </>
              )}
              {j.requested_by === me.name && (
                <button
                  type="button"
                  class="secondary"
                  onClick={() => decide(j.id, 'reject', `Withdrew restore ${short(j.id)}.`)}
                  aria-label={`Withdraw restore ${short(j.id)}`}
                >
                  Withdraw
                </button>
              )}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function RestoreView({ me }: { me: Me }) {
  return (
    <section aria-labelledby="restore-h">
      <h1 id="restore-h">Restore</h1>
      <Approvals me={me} />
      <Wizard />
    </section>
  );
}
