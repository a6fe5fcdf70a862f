/**
 * @module web/overview
 * Every source: engine, last good backup (the newest that saved every unit, which it names)
 * and its age against the RPO, next run, last job,
 * with a mark on sources in breach or failing; operators can start a backup or a drill and
 * watch it run. Below, the applications with their newest point and last drill's RTO, and in
 * fleet mode the workers.
 */
import { useState } from 'preact/hooks';
import { ApiFailure, type App, can, FINAL, get, type Job, type Me, post, type SourceStatus } from './api';
import { AppsTable } from './apps';
import { bytes, seconds, short, time } from './format';
import { useLoad } from './hooks';
import { Failure, Table } from './ui';
import { WorkersTable } from './workers';

export function Overview({ me }: { me: Me }) {
  const [started, setStarted] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string>('');
  const sources = useLoad(
    () => get<{ sources: SourceStatus[] }>('/api/sources').then((r) => r.sources),
    [],
    (d) => (d?.some((s) => s.running_job) || Object.keys(started).length > 0 ? 1000 : 15_000),
  );
  const running = useLoad(
    () => get<{ jobs: Job[] }>('/api/jobs?status=running&limit=50').then((r) => r.jobs),
    [sources.data],
  );
  // Applications (config `apps:`): shown only when there are some.
  const apps = useLoad(
    () => get<{ apps: App[] }>('/api/apps').then((r) => r.apps),
    [],
    () => 15_000,
  );
  const start = async (source: string, what: 'backups' | 'drills') => {
    setMessage('');
    try {
      const r = await post<{ job: Job }>(`/api/sources/${encodeURIComponent(source)}/${what}`);
      setStarted((s) => ({ ...s, [source]: r.job.id }));
      setMessage(`${what === 'backups' ? 'Backup' : 'Drill'} of ${source} started (job ${short(r.job.id)}).`);
      sources.reload();
    } catch (err) {
      setMessage(err instanceof ApiFailure ? err.message : String(err));
    }
  };
  const list = sources.data;
  const breached = list?.filter((s) => s.rpo?.breached).length ?? 0;
  const failing = list?.filter((s) => s.last_job?.status === 'failed').length ?? 0;
  return (
    <section aria-labelledby="overview-h">
      <h1 id="overview-h">Overview</h1>
      <Failure error={sources.error} />
      {list && (
        <p class="summary">
          {list.length} sources ·{' '}
          <span class={breached ? 'bad' : 'good'}>{breached} in breach of their RPO</span> ·{' '}
          <span class={failing ? 'bad' : 'good'}>{failing} failing</span>
        </p>
      )}
      <p role="status" aria-live="polite" class="status-line">
        {message}
      </p>
      {!list && !sources.error && <p>Loading…</p>}
      {list && (
        <Table
          caption="Sources"
          class="sources"
          columns={[
            'Source',
            'Engine',
            'Last good backup',
            'Age / RPO',
            'Next run',
            'Last job',
            can(me, 'operator') && 'Actions',
          ]}
        >
          {list.map((s) => {
            const job = running.data?.find((j) => j.source === s.name);
            const bad = s.rpo?.breached || s.last_job?.status === 'failed';
            return (
              <tr key={s.name} class={bad ? 'row-bad' : undefined} data-source={s.name}>
                <th scope="row">
                  {s.name}
                  {s.protected && (
                    <span class="tag" title="restores need a second admin">
                      protected
                    </span>
                  )}
                </th>
                <td data-label="Engine">{s.type}</td>
                <td data-label="Last good backup">
                  {s.last_backup ? (
                    <>
                      {time(s.last_backup.time)}{' '}
                      <a href={`#/snapshots/${s.last_backup.snapshot}`}>{short(s.last_backup.snapshot)}</a>
                      {s.last_backup.units && (
                        <div class="muted" data-testid="last-units">
                          {s.last_backup.units.map((u) => u.label).join(', ')}
                        </div>
                      )}
                    </>
                  ) : (
                    'never'
                  )}
                  <div class="muted">{s.snapshots} snapshots</div>
                </td>
                <td data-label="Age / RPO">
                  {s.last_backup ? seconds(s.last_backup.age_seconds) : '–'}
                  {s.rpo ? (
                    <>
                      {' / '}
                      {s.rpo.max_age}{' '}
                      {s.rpo.breached ? (
                        <span class="badge bad">RPO BREACHED</span>
                      ) : (
                        <span class="badge good">ok</span>
                      )}
                    </>
                  ) : (
                    <span class="muted"> (no max_age)</span>
                  )}
                </td>
                <td data-label="Next run">
                  {s.schedule_error ? (
                    <span class="bad">{s.schedule_error}</span>
                  ) : s.schedule ? (
                    <>
                      {time(s.next_run)}
                      <div class="muted">
                        <code>{s.schedule.cron}</code> {s.schedule.timezone}
                      </div>
                    </>
                  ) : (
                    <span class="muted">not scheduled</span>
                  )}
                </td>
                <td data-label="Last job">
                  {job ? (
                    <JobLive job={job} />
                  ) : s.last_job ? (
                    <span class={`badge ${s.last_job.status === 'failed' ? 'bad' : 'good'}`}>
                      {s.last_job.status === 'failed' ? 'FAILED' : s.last_job.status}
                    </span>
                  ) : (
                    '–'
                  )}
                  {!job && s.last_failure && s.last_job?.status === 'failed' && (
                    <div class="error-text">{s.last_failure.error}</div>
                  )}
                  {!job && started[s.name] && started[s.name] !== s.last_job?.id && (
                    <StartedJob id={started[s.name]} />
                  )}
                </td>
                {can(me, 'operator') && (
                  <td class="actions">
                    <button
                      type="button"
                      disabled={!!s.running_job}
                      onClick={() => start(s.name, 'backups')}
                      aria-label={`Back up ${s.name} now`}
                    >
                      Back up now
                    </button>
                    <button
                      type="button"
                      class="secondary"
                      disabled={!!s.running_job || !s.last_backup}
                      onClick={() => start(s.name, 'drills')}
                      aria-label={`Start a restore drill of ${s.name}`}
                    >
                      Drill
                    </button>
                  </td>
                )}
              </tr>
            );
          })}
        </Table>
      )}
      {apps.data && apps.data.length > 0 && (
        <>
          <h2>Applications</h2>
          <AppsTable apps={apps.data} />
        </>
      )}
      <WorkersTable />
    </section>
  );
}

export function JobLive({ job }: { job: Job }) {
  const p = job.progress;
  return (
    <span class="live">
      <span class="badge run">{job.status}</span> {p?.phase || job.kind}
      {p && (
        <>
          {' '}
          {p.bytes_total ? (
            <progress max={p.bytes_total} value={p.bytes_done} aria-label={`${p.phase} progress`} />
          ) : null}{' '}
          <span class="muted">
            {bytes(p.bytes_done)}
            {p.bytes_total ? ` of ${bytes(p.bytes_total)}` : ''}
          </span>
          <JobEta job={job} />
        </>
      )}
    </span>
  );
}

/** The job a button started, until it is final (then the source's row shows it). */
function StartedJob({ id }: { id: string }) {
  const job = useLoad(
    () => get<{ job: Job }>(`/api/jobs/${id}`).then((r) => r.job),
    [id],
    (j) => (j && FINAL.includes(j.status) ? 0 : 1000),
  );
  if (!job.data) return null;
  return (
    <div class="muted" data-testid={`started-${id}`}>
      job {short(id)}:{' '}
      <span class={`badge ${job.data.status === 'failed' ? 'bad' : ''}`}>{job.data.status}</span>
      {job.data.error && <span class="error-text"> {job.data.error}</span>}
    </div>
  );
}

/** A running job's percent and time left, from the server's live progress. */
function JobEta({ job }: { job: Job }) {
  const p = job.progress;
  if (!p || (p.percent === null && p.eta_seconds === null)) return null;
  const parts = [
    p.percent === null ? '' : `${p.total_is_estimate ? '~' : ''}${Math.floor(p.percent)}%`,
    p.files_total === null ? '' : `${p.files_done} of ${p.files_total} files`,
    p.eta_seconds === null ? '' : `ETA ${seconds(p.eta_seconds)}`,
  ].filter(Boolean);
  return (
    <span class="muted" data-testid="job-eta">
      {' '}
      ({parts.join(', ')})
    </span>
  );
}
