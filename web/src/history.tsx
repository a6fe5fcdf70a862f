/**
 * @module web/history
 * Jobs with filters (source, status, kind, time range): timings, bytes read and stored, the
 * dedup ratio, errors, a partial backup's warning, and live progress of running jobs (percent,
 * files and ETA; polled every second while any runs).
 */
import { useState } from 'preact/hooks';
import { get, type Job, query, JOB_STATUSES as STATUSES } from './api';
import { bytes, ratio, seconds, short, time } from './format';
import { useLoad } from './hooks';
import { JobLive } from './overview';
import { Failure, SourceFilter, Table } from './ui';

const KINDS = ['backup', 'forget', 'prune', 'check', 'restore', 'drill'];

/** A datetime-local value (no zone) read as UTC, as every time on the page is shown. */
function utc(local: string): string | undefined {
  return local ? new Date(`${local}:00Z`).toISOString() : undefined;
}

/** A job that succeeded but left something out (a backup that could not read some paths). */
function partial(j: Job): boolean {
  return j.status === 'succeeded' && j.result?.status === 'partial';
}

function StatusBadge({ job: j }: { job: Job }) {
  if (partial(j)) return <span class="badge warn">succeeded, partial</span>;
  const tone =
    j.status === 'failed' || j.status === 'rejected' ? 'bad' : j.status === 'succeeded' ? 'good' : '';
  return <span class={`badge ${tone}`}>{j.status}</span>;
}

export function History() {
  const [source, setSource] = useState('');
  const [status, setStatus] = useState('');
  const [kind, setKind] = useState('');
  const [from, setFrom] = useState('');
  const [until, setUntil] = useState('');
  const jobs = useLoad(
    () =>
      get<{ jobs: Job[] }>(
        `/api/jobs${query({ source, status, kind, since: utc(from), before: utc(until), limit: 200 })}`,
      ).then((r) => r.jobs),
    [source, status, kind, from, until],
    (d) => (d?.some((j) => j.status === 'running' || j.status === 'queued') ? 1000 : 10_000),
  );
  return (
    <section aria-labelledby="history-h">
      <h1 id="history-h">History</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
        <SourceFilter value={source} onChange={setSource} />
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">all</option>
            {KINDS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          From (UTC)
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          Until (UTC)
          <input type="datetime-local" value={until} onChange={(e) => setUntil(e.currentTarget.value)} />
        </label>
      </form>
      <Failure error={jobs.error} />
      {jobs.data && jobs.data.length === 0 && <p>No jobs match.</p>}
      {jobs.data && jobs.data.length > 0 && (
        <Table
          caption="Jobs, newest first"
          columns={[
            'Job',
            'Kind',
            'Source',
            'Status',
            'Started',
            'Took',
            'Read',
            'Stored',
            'Dedup',
            'Snapshot / error',
          ]}
        >
          {jobs.data.map((j) => (
            <tr
              key={j.id}
              data-job={j.id}
              class={j.status === 'failed' || j.status === 'rejected' ? 'row-bad' : undefined}
            >
              <td>
                <code>{short(j.id)}</code>
                <div class="muted">
                  {j.trigger}
                  {j.requested_by ? ` by ${j.requested_by}` : ''}
                  {j.approved_by ? `, approved by ${j.approved_by}` : ''}
                </div>
              </td>
              <td>
                {j.kind}
                {j.params.dry_run === true && <div class="muted">dry run</div>}
              </td>
              <td>{j.source ?? '–'}</td>
              <td>{j.status === 'running' ? <JobLive job={j} /> : <StatusBadge job={j} />}</td>
              <td>{time(j.started_at ?? j.created_at)}</td>
              <td>{seconds(j.duration_seconds)}</td>
              <td>{bytes(j.bytes_read)}</td>
              <td>{bytes(j.bytes_stored)}</td>
              <td>{ratio(j.bytes_read, j.bytes_stored)}</td>
              <td>
                {j.snapshot && <a href={`#/snapshots/${j.snapshot}`}>{short(j.snapshot)}</a>}
                {j.error && <div class="error-text">{j.error}</div>}
                {partial(j) && (
                  <div class="error-text" data-testid="job-warning">
                    {String(j.result?.warning ?? 'some paths could not be read')}
                  </div>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
