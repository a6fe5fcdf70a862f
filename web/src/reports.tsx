/**
 * @module web/reports
 * Drill reports (kept in the repository), alerts (from the catalog) and, for admins, the
 * audit log with its hash-chain check.
 */
import { useState } from 'preact/hooks';
import { type Alert, type AuditPage, can, type Drill, get, type Me, query } from './api';
import { seconds, short, time } from './format';
import { useLoad } from './hooks';
import { Failure, Table } from './ui';

interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

function DrillReport({ id }: { id: string }) {
  const r = useLoad(
    () =>
      get<{ drill: Drill; report: { checks?: DrillCheck[]; scratch?: string; engine?: string } }>(
        `/api/drills/${id}`,
      ),
    [id],
  );
  if (r.error)
    return (
      <p role="alert" class="error">
        {r.error}
      </p>
    );
  if (!r.data) return <p>Loading report…</p>;
  const { drill, report } = r.data;
  return (
    <article aria-labelledby="drill-h" class="card">
      <h2 id="drill-h">
        Drill {short(drill.id)} of {drill.source}{' '}
        <span class={`badge ${drill.passed ? 'good' : 'bad'}`}>{drill.passed ? 'passed' : 'FAILED'}</span>
      </h2>
      <p>
        Snapshot <a href={`#/snapshots/${drill.snapshot}`}>{short(drill.snapshot)}</a>
        {`, ${time(drill.time)}; recovery time ${seconds((drill.rto_ms ?? 0) / 1000)} (restore ${seconds((drill.restore_ms ?? 0) / 1000)}); scratch: ${report.scratch ?? '–'}`}
      </p>
      {drill.error && <p class="error">{drill.error}</p>}
      <Table caption="Checks" showCaption columns={['Check', 'Result', 'Detail', 'Took']}>
        {(report.checks ?? []).map((c) => (
          <tr key={c.name} class={c.ok ? undefined : 'row-bad'}>
            <th scope="row">{c.name}</th>
            <td>
              <span class={`badge ${c.ok ? 'good' : 'bad'}`}>{c.ok ? 'ok' : 'FAILED'}</span>
            </td>
            <td>{c.detail}</td>
            <td>{seconds(c.ms / 1000)}</td>
          </tr>
        ))}
      </Table>
    </article>
  );
}

export function DrillsView({ me, id }: { me: Me; id?: string }) {
  const drills = useLoad(
    () => get<{ drills: Drill[] }>('/api/drills').then((r) => r.drills),
    [],
    () => 15_000,
  );
  return (
    <section aria-labelledby="drills-h">
      <h1 id="drills-h">Drills</h1>
      <p class="muted">
        A drill restores a snapshot into a scratch target and checks it.{' '}
        {can(me, 'operator') ? 'Start one from the Overview.' : ''}
      </p>
      {id && <DrillReport id={id} />}
      <Failure error={drills.error} />
      {drills.data?.length === 0 && <p>No drill reports yet.</p>}
      {drills.data && drills.data.length > 0 && (
        <Table
          caption="Drill reports, newest first"
          columns={['Report', 'Time', 'Source', 'Snapshot', 'Result', 'Recovery time']}
        >
          {drills.data.map((d) => (
            <tr key={d.id} class={d.passed ? undefined : 'row-bad'}>
              <td>
                <a href={`#/drills/${d.id}`}>{short(d.id)}</a>
              </td>
              <td>{time(d.time)}</td>
              <td>{d.source}</td>
              <td>{short(d.snapshot)}</td>
              <td>
                <span class={`badge ${d.passed ? 'good' : 'bad'}`}>{d.passed ? 'passed' : 'FAILED'}</span>
                {d.failed_checks.length > 0 && <span class="muted"> {d.failed_checks.join(', ')}</span>}
              </td>
              <td>{seconds((d.rto_ms ?? 0) / 1000)}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

export function AlertsView() {
  const alerts = useLoad(
    () => get<{ alerts: Alert[] }>('/api/alerts').then((r) => r.alerts),
    [],
    () => 15_000,
  );
  return (
    <section aria-labelledby="alerts-h">
      <h1 id="alerts-h">Alerts</h1>
      <Failure error={alerts.error} />
      {alerts.data?.length === 0 && <p>No alerts.</p>}
      <ul class="cards">
        {alerts.data?.map((a) => (
          <li key={a.key} class={`card ${a.state === 'firing' ? 'card-bad' : ''}`}>
            <p>
              <span class={`badge ${a.state === 'firing' ? 'bad' : 'good'}`}>{a.state}</span>{' '}
              <strong>{a.kind}</strong>
              {a.source ? ` · ${a.source}` : ''}
            </p>
            <p>{a.summary}</p>
            <p class="muted">
              since {time(a.first_at)}
              {a.resolved_at ? `, resolved ${time(a.resolved_at)}` : ''} · sent {a.sends}×
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function AuditView() {
  const [action, setAction] = useState('');
  const audit = useLoad(
    () => get<AuditPage>(`/api/audit${query({ action, limit: 200, verify: 'true' })}`),
    [action],
  );
  const v = audit.data?.verification;
  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h">Audit log</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <label>
          Action (or prefix)
          <input
            type="text"
            value={action}
            onChange={(e) => setAction(e.currentTarget.value)}
            placeholder="restore"
          />
        </label>
      </form>
      {v && (
        <p role="status" class={v.ok ? 'good' : 'bad'}>
          {v.ok
            ? `Hash chain verified: ${v.entries} entries.`
            : `Hash chain BROKEN at entry ${v.first_bad?.seq}: ${v.first_bad?.reason}`}
        </p>
      )}
      <Failure error={audit.error} />
      {audit.data && (
        <Table
          caption="Audit entries, newest first"
          columns={['Seq', 'Time', 'Actor', 'Action', 'Target', 'Details']}
        >
          {audit.data.entries.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>{time(e.time)}</td>
              <td>{e.actor}</td>
              <td>{e.action}</td>
              <td>{e.target ?? '–'}</td>
              <td>
                <code class="wrap">{JSON.stringify(e.details)}</code>
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
