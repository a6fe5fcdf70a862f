/**
 * @module web/apps
 * Applications (config `apps:`): each app's sources, environments, newest recovery point and
 * last drill's recovery time; one app's points, and a restore form that shows the plan (per
 * source the snapshot or point in time, the skew, what each target holds and will lose)
 * before the restore is confirmed. A protected environment's restore waits for a second admin,
 * who sees the plan kept in the request and approves it here; a plan that changed since is
 * refused by the server.
 */
import { useState } from 'preact/hooks';
import {
  ApiFailure,
  type App,
  type AppPlan,
  can,
  FINAL,
  get,
  type Job,
  type Me,
  type Point,
  post,
} from './api';
import { bytes, short, time } from './format';
import { useLoad } from './hooks';
import { Failure, Table } from './ui';

export function rto(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '–' : `${(ms / 1000).toFixed(1)}s`;
}

/** The list of apps (also the overview's Applications table). */
export function AppsTable({ apps, caption = 'Applications' }: { apps: App[]; caption?: string }) {
  return (
    <Table
      caption={caption}
      class="apps"
      columns={['Application', 'Sources', 'Latest point', 'Last drill RTO']}
    >
      {apps.map((a) => (
        <tr key={a.name} data-app={a.name}>
          <th scope="row">
            <a href={`#/apps/${encodeURIComponent(a.name)}`}>{a.name}</a>
          </th>
          <td data-label="Sources">{a.sources.join(', ')}</td>
          <td data-label="Latest point">
            {a.latest_point ? (
              <>
                {time(a.latest_point.time)} <code>{short(a.latest_point.id)}</code>{' '}
                {!a.latest_point.complete && <span class="badge bad">INCOMPLETE</span>}
              </>
            ) : (
              'none'
            )}
          </td>
          <td data-label="Last drill RTO" data-testid="app-rto">
            {a.last_drill ? (
              <>
                {rto(a.last_drill.rto_ms)}{' '}
                <span class={`badge ${a.last_drill.passed ? 'good' : 'bad'}`}>
                  {a.last_drill.passed ? 'passed' : 'FAILED'}
                </span>
              </>
            ) : (
              'never drilled'
            )}
          </td>
        </tr>
      ))}
    </Table>
  );
}

export function AppsView({ me, name }: { me: Me; name?: string }) {
  const apps = useLoad(
    () => get<{ apps: App[] }>('/api/apps').then((r) => r.apps),
    [],
    () => 15_000,
  );
  const app = name ? apps.data?.find((a) => a.name === name) : undefined;
  return (
    <section aria-labelledby="apps-h">
      <h1 id="apps-h">{name ? `Application ${name}` : 'Applications'}</h1>
      <Failure error={apps.error} />
      {!apps.data && !apps.error && <p>Loading…</p>}
      {apps.data && !name && apps.data.length === 0 && (
        <p>
          No applications: name the sources of one under <code>apps:</code> in the config.
        </p>
      )}
      {apps.data && !name && apps.data.length > 0 && <AppsTable apps={apps.data} />}
      {apps.data && name && !app && <p role="alert">No application {name} in the config.</p>}
      {app && <AppDetail app={app} me={me} onChange={apps.reload} />}
    </section>
  );
}

function AppDetail({ app, me, onChange }: { app: App; me: Me; onChange: () => void }) {
  const points = useLoad(
    () => get<{ points: Point[] }>(`/api/apps/${encodeURIComponent(app.name)}/points`).then((r) => r.points),
    [app.name, app.latest_point?.id],
  );
  const [job, setJob] = useState<string>();
  const [message, setMessage] = useState('');
  const start = async (what: 'backups' | 'drills') => {
    setMessage('');
    try {
      const r = await post<{ job: Job }>(`/api/apps/${encodeURIComponent(app.name)}/${what}`);
      setJob(r.job.id);
      setMessage(
        `${what === 'backups' ? 'Recovery point' : 'Drill'} of ${app.name} started (job ${short(r.job.id)}).`,
      );
    } catch (err) {
      setMessage(err instanceof ApiFailure ? err.message : String(err));
    }
  };
  return (
    <>
      <p>
        <a href="#/apps">All applications</a>
      </p>
      <AppsTable apps={[app]} caption={`Application ${app.name}`} />
      <p>
        Environments:{' '}
        {app.environments.map((e) => (
          <span key={e.name} class="tag">
            {e.name}
            {e.protected ? ' (protected)' : ''}
          </span>
        ))}
      </p>
      {can(me, 'operator') && (
        <p class="actions">
          <button type="button" onClick={() => start('backups')}>
            Take a recovery point
          </button>
          <button
            type="button"
            class="secondary"
            disabled={!app.latest_point}
            onClick={() => start('drills')}
          >
            Drill the app
          </button>
        </p>
      )}
      <p role="status" aria-live="polite" class="status-line">
        {message}
      </p>
      {job && <AppJob id={job} onFinal={onChange} />}
      <h2>Recovery points</h2>
      <Failure error={points.error} />
      {points.data && <PointsTable points={points.data} />}
      <AppApprovals app={app.name} me={me} />
      {can(me, 'operator') && points.data && <RestoreForm app={app} points={points.data} />}
    </>
  );
}

function PointsTable({ points }: { points: Point[] }) {
  if (points.length === 0) return <p>No recovery point yet.</p>;
  return (
    <Table
      caption="Recovery points, newest first"
      columns={['Point', 'Time', 'Sources', { label: 'Size', num: true }, 'Complete']}
    >
      {points.map((p) => (
        <tr key={p.id} data-point={p.id}>
          <th scope="row">
            <code>{short(p.id)}</code>
          </th>
          <td>{time(p.time)}</td>
          <td>
            {p.sources.map((s) => (
              <span key={s.source} class={`tag${s.complete ? '' : ' bad'}`}>
                {s.source}
                {s.complete ? '' : ' (missing)'}
              </span>
            ))}
          </td>
          <td class="num">{bytes(p.bytes_read)}</td>
          <td>
            {p.complete ? (
              <span class="badge good">complete</span>
            ) : (
              <span class="badge bad">INCOMPLETE</span>
            )}
          </td>
        </tr>
      ))}
    </Table>
  );
}

/** The plan as a person reads it before confirming (or approving). */
export function PlanView({ plan }: { plan: AppPlan }) {
  return (
    <div class="plan" data-testid="app-plan">
      <p>
        Restore <strong>{plan.app}</strong> to <strong>{plan.env}</strong>
        {plan.protected && <span class="tag">protected: a second admin approves</span>} from{' '}
        {plan.point ? (
          <>
            point <code>{short(plan.point.id)}</code> ({time(plan.point.time)})
            {!plan.point.complete && <span class="badge bad">INCOMPLETE</span>}
          </>
        ) : (
          <>time {time(plan.at)}</>
        )}
      </p>
      <Table caption="Plan per source" columns={['Source', 'Restores', 'Data from', 'Target', 'Overwrites']}>
        {plan.sources.map((s) => (
          <tr key={s.source} data-plan-source={s.source}>
            <th scope="row">
              {s.source} <span class="muted">{s.engine}</span>
            </th>
            <td>
              {s.method === 'pitr' ? 'base backup + WAL ' : 'snapshot '}
              {s.snapshots.map((x) => (
                <code key={x.id}>{short(x.id)} </code>
              ))}
            </td>
            <td>{time(s.recoversTo)}</td>
            <td>
              <code>{s.to}</code>
            </td>
            <td>
              {s.snapshots.map((x) => (
                <div key={x.id}>
                  {x.target
                    ? x.target.exists
                      ? x.target.summary
                      : 'nothing there yet'
                    : (x.targetError ?? '–')}
                </div>
              ))}
            </td>
          </tr>
        ))}
      </Table>
      <p>Skew between the sources' recovery moments: {rto(plan.skewMs)}</p>
      {plan.notes.map((n) => (
        <p key={n} class="note">
          {n}
        </p>
      ))}
    </div>
  );
}

function RestoreForm({ app, points }: { app: App; points: Point[] }) {
  const complete = points.filter((p) => p.complete);
  const [mode, setMode] = useState<'point' | 'at'>('point');
  const [point, setPoint] = useState(complete[0]?.id ?? '');
  const [at, setAt] = useState('');
  const [env, setEnv] = useState(app.environments[0]?.name ?? '');
  const [only, setOnly] = useState<string[]>([]);
  const [plan, setPlan] = useState<AppPlan>();
  const [job, setJob] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const body = () => ({
    ...(mode === 'point' ? { point } : { at: new Date(at).toISOString() }),
    env,
    ...(only.length > 0 ? { only } : {}),
  });
  const changed = () => {
    setPlan(undefined);
    setJob(undefined);
  };
  const call = async (what: 'plan' | 'restores') => {
    setError(undefined);
    setBusy(true);
    try {
      if (mode === 'at' && Number.isNaN(Date.parse(at)))
        throw new Error('Give a time, such as 2026-01-15 10:00:00Z.');
      const path = `/api/apps/${encodeURIComponent(app.name)}/${what}`;
      if (what === 'plan') setPlan((await post<{ plan: AppPlan }>(path, body())).plan);
      else setJob((await post<{ job: Job }>(path, body())).job.id);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const protectedEnv = app.environments.find((e) => e.name === env)?.protected;
  return (
    <form class="wizard" aria-labelledby="app-restore-h" onSubmit={(e) => e.preventDefault()}>
      <h2 id="app-restore-h">Restore {app.name}</h2>
      <fieldset>
        <legend>From</legend>
        <label class="point">
          <input
            type="radio"
            name="from"
            checked={mode === 'point'}
            onChange={() => {
              setMode('point');
              changed();
            }}
          />
          a recovery point{' '}
          <select
            aria-label="Recovery point"
            value={point}
            disabled={mode !== 'point'}
            onChange={(e) => {
              setPoint(e.currentTarget.value);
              changed();
            }}
          >
            {complete.map((p) => (
              <option key={p.id} value={p.id}>
                {short(p.id)} ({time(p.time)})
              </option>
            ))}
          </select>
        </label>
        <label class="point">
          <input
            type="radio"
            name="from"
            checked={mode === 'at'}
            onChange={() => {
              setMode('at');
              changed();
            }}
          />
          a time{' '}
          <input
            type="text"
            aria-label="Time (UTC)"
            placeholder="2026-01-15T10:00:00Z"
            value={at}
            disabled={mode !== 'at'}
            onInput={(e) => {
              setAt(e.currentTarget.value);
              changed();
            }}
          />
        </label>
      </fieldset>
      <label>
        Environment
        <select
          value={env}
          onChange={(e) => {
            setEnv(e.currentTarget.value);
            changed();
          }}
        >
          {app.environments.map((e) => (
            <option key={e.name} value={e.name}>
              {e.name}
              {e.protected ? ' (protected)' : ''}
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>Sources (none checked: all)</legend>
        {app.sources.map((s) => (
          <label key={s} class="point">
            <input
              type="checkbox"
              checked={only.includes(s)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setOnly((o) => (on ? [...o, s] : o.filter((x) => x !== s)));
                changed();
              }}
            />
            {s}
          </label>
        ))}
      </fieldset>
      <p class="actions">
        <button type="button" disabled={busy || (mode === 'point' && !point)} onClick={() => call('plan')}>
          Show the plan
        </button>
      </p>
      {plan && <PlanView plan={plan} />}
      {plan && !job && (
        <p class="actions">
          <button type="button" disabled={busy} onClick={() => call('restores')}>
            {protectedEnv ? `Ask to restore to ${env}` : `Restore to ${env}`}
          </button>
          <span class="muted">
            {' '}
            {protectedEnv
              ? 'A second admin approves it before anything is written.'
              : 'Everything listed under Overwrites is replaced.'}
          </span>
        </p>
      )}
      {job && <AppJob id={job} />}
      <Failure error={error} />
    </form>
  );
}

function AppJob({ id, onFinal }: { id: string; onFinal?: () => void }) {
  const job = useLoad(
    () => get<{ job: Job }>(`/api/jobs/${id}`).then((r) => r.job),
    [id],
    (j) => {
      if (j && FINAL.includes(j.status)) {
        onFinal?.();
        return 0;
      }
      return 1000;
    },
  );
  const j = job.data;
  if (!j) return <p>Loading job {short(id)}…</p>;
  const result = (j.result ?? {}) as { rto_ms?: number; point?: string; complete?: boolean };
  return (
    <div class="job-state" data-testid="app-job" data-status={j.status}>
      <p>
        {j.kind.replace('app_', 'App ')} job <code>{short(j.id)}</code>:{' '}
        <span class={`badge ${j.status === 'succeeded' ? 'good' : FINAL.includes(j.status) ? 'bad' : 'run'}`}>
          {j.status === 'awaiting_approval' ? 'awaiting approval' : j.status}
        </span>
        {j.approved_by && <> · approved by {j.approved_by}</>}
      </p>
      {j.status === 'awaiting_approval' && (
        <p role="status">
          This environment is protected: a second admin (not {j.requested_by}) must approve the plan on this
          page.
        </p>
      )}
      {typeof result.rto_ms === 'number' && <p>Recovery time: {rto(result.rto_ms)}</p>}
      {j.kind === 'app_backup' && result.point && (
        <p>
          Point <code>{short(result.point)}</code> {result.complete ? 'complete' : 'INCOMPLETE'}.
        </p>
      )}
      <Failure error={j.error} />
    </div>
  );
}

function AppApprovals({ app, me }: { app: string; me: Me }) {
  const [message, setMessage] = useState('');
  const pending = useLoad(
    () =>
      get<{ jobs: Job[] }>('/api/jobs?kind=app_restore&status=awaiting_approval').then((r) =>
        r.jobs.filter((j) => j.params.app === app),
      ),
    [app],
    () => 3000,
  );
  const decide = async (id: string, action: 'approve' | 'reject') => {
    setMessage('');
    try {
      await post(`/api/restores/${id}/${action}`);
      setMessage(
        action === 'approve' ? `Approved restore ${short(id)}; it runs now.` : `Ended restore ${short(id)}.`,
      );
    } catch (err) {
      setMessage((err as Error).message);
    }
    pending.reload();
  };
  if (!pending.data?.length && !message) return null;
  return (
    <section aria-labelledby="app-approvals-h" class="approvals">
      <h2 id="app-approvals-h">Awaiting approval</h2>
      <p role="status" aria-live="polite" class="status-line">
        {message}
      </p>
      {pending.data?.map((j) => (
        <div key={j.id} class="card" data-approval={j.id}>
          <PlanView plan={j.params.plan as AppPlan} />
          <p class="muted">
            requested by {j.requested_by} at {time(j.created_at)}
          </p>
          {j.requested_by === me.name && <p class="note">You requested it: another admin must approve.</p>}
          <p class="actions">
            {can(me, 'admin') && j.requested_by !== me.name && (
              <>
                <button
                  type="button"
                  onClick={() => decide(j.id, 'approve')}
                  aria-label={`Approve restore ${short(j.id)}`}
                >
                  Approve
                </button>
                <button
                  type="button"
                  class="secondary"
                  onClick={() => decide(j.id, 'reject')}
                  aria-label={`Reject restore ${short(j.id)}`}
                >
                  Reject
                </button>
              </>
            )}
            {j.requested_by === me.name && (
              <button type="button" class="secondary" onClick={() => decide(j.id, 'reject')}>
                Withdraw
              </button>
            )}
          </p>
        </div>
      ))}
    </section>
  );
}
