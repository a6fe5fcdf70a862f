/**
 * @module web/workers
 * Fleet mode's workers on the overview: each with its labels (and the job kinds it takes, when
 * not every kind: a backup-only worker), last heartbeat and the jobs it runs. A single server
 * has none, and the table is not shown.
 */
import { get, type Workers } from './api';
import { short, time } from './format';
import { useLoad } from './hooks';
import { Table } from './ui';

export function WorkersTable() {
  const workers = useLoad(
    () => get<Workers>('/api/workers'),
    [],
    () => 15_000,
  );
  const data = workers.data;
  if (data?.mode !== 'fleet') return null;
  return (
    <>
      <h2>Workers</h2>
      <Table caption="Workers" class="workers" columns={['Worker', 'Labels', 'Last seen', 'Running']}>
        {data.workers.map((w) => (
          <tr key={w.id} data-worker={w.name}>
            <th scope="row">{w.name}</th>
            <td data-label="Labels">
              {Object.entries(w.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ') || <span class="muted">none</span>}
              {w.kinds && (
                <div class="muted" title="its repository key is write-only">
                  only {w.kinds.join(', ')}
                </div>
              )}
            </td>
            <td data-label="Last seen">{time(w.last_seen)}</td>
            <td data-label="Running">
              {w.current.length === 0 ? (
                <span class="muted">idle</span>
              ) : (
                w.current.map((c) => (
                  <div key={c.id}>
                    {c.kind} {c.source ?? ''} <span class="muted">{short(c.id)}</span>
                  </div>
                ))
              )}
            </td>
          </tr>
        ))}
      </Table>
    </>
  );
}
