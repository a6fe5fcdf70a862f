/**
 * @module web/snapshots
 * Snapshots: a list by source, and one snapshot in detail: its stats (rows per table, keys
 * per Redis database, documents per collection), a file tree to browse with downloads, the
 * recorded size (and SHA-256 where recorded) of each file, the last repository check and the
 * drills that restored it.
 */
import { useState } from 'preact/hooks';
import {
  can,
  type Drill,
  download,
  get,
  type Job,
  type Me,
  query,
  type Snapshot,
  type SnapshotProblem,
  type TreeEntry,
} from './api';
import { bytes, seconds, short, time } from './format';
import { useLoad } from './hooks';
import { Failure, SourceFilter, Table } from './ui';

/** Folder entries loaded at a time. */
const PAGE = 500;

export function SnapshotsView() {
  const [source, setSource] = useState('');
  const list = useLoad(
    () =>
      get<{ total: number; snapshots: Snapshot[]; problems?: SnapshotProblem[] }>(
        `/api/snapshots${query({ source, limit: 200 })}`,
      ),
    [source],
  );
  return (
    <section aria-labelledby="snapshots-h">
      <h1 id="snapshots-h">Snapshots</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter snapshots">
        <SourceFilter value={source} onChange={setSource} />
      </form>
      <Failure error={list.error} />
      {list.data?.problems && list.data.problems.length > 0 && <Problems problems={list.data.problems} />}
      {list.data && (
        <>
          <p class="muted">
            {list.data.total} snapshots
            {list.data.total > list.data.snapshots.length ? ', newest 200 shown' : ''}
          </p>
          <Table
            caption="Snapshots, newest first"
            columns={['Snapshot', 'Time', 'Source', 'Engine', 'Size', 'Tags']}
          >
            {list.data.snapshots.map((s) => (
              <tr key={s.id}>
                <td>
                  <a href={`#/snapshots/${s.id}`}>{s.short_id}</a>
                  {s.skippedCount ? (
                    <span
                      class="badge warn"
                      data-testid="skipped-badge"
                      title="paths the backup could not read"
                    >
                      {s.skippedCount} skipped
                    </span>
                  ) : null}
                </td>
                <td>{time(s.time)}</td>
                <td>{s.source}</td>
                <td>
                  {s.engine} <span class="muted">{s.kind}</span>
                </td>
                <td>{bytes(typeof s.stats.bytes === 'number' ? s.stats.bytes : null)}</td>
                <td>{s.tags.join(', ')}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}

/** Snapshot files that do not read: the rest is listed, these are named with the way out. */
function Problems({ problems }: { problems: SnapshotProblem[] }) {
  return (
    <div role="alert" class="banner" data-testid="snapshot-problems">
      <p>
        <strong>
          {problems.length} snapshot file{problems.length === 1 ? '' : 's'} could not be read
        </strong>{' '}
        and {problems.length === 1 ? 'is' : 'are'} left out of this list:
      </p>
      <ul>
        {problems.map((p) => (
          <li key={p.id} data-problem={p.id}>
            <code class="wrap">{p.id}</code> <span class="badge bad">{p.kind}</span> {p.message}
          </li>
        ))}
      </ul>
      <p>
        A damaged file stays damaged: remove it with <code>lifeboat forget ID</code>, or all such files with{' '}
        <code>lifeboat repair snapshots --forget</code>. An unreadable one is tried again at each refresh.
      </p>
    </div>
  );
}

function CountTable({
  caption,
  head,
  counts,
}: {
  caption: string;
  head: string;
  counts: Record<string, unknown>;
}) {
  const rows = Object.entries(counts);
  if (rows.length === 0) return null;
  return (
    <Table caption={caption} showCaption class="counts" columns={[head, { label: 'Count', num: true }]}>
      {rows.map(([k, v]) => (
        <tr key={k}>
          <th scope="row">{head === 'Database' ? `db${k}` : k}</th>
          <td class="num">{String(v)}</td>
        </tr>
      ))}
    </Table>
  );
}

export function SnapshotDetail({ id, me }: { id: string; me: Me }) {
  const [path, setFolder] = useState('');
  const [shown, setShown] = useState(PAGE);
  const setPath = (p: string) => {
    setFolder(p);
    setShown(PAGE);
  };
  const [message, setMessage] = useState('');
  const snap = useLoad(
    () => get<{ snapshot: Snapshot }>(`/api/snapshots/${id}`).then((r) => r.snapshot),
    [id],
  );
  const tree = useLoad(
    () =>
      get<{ path: string; total: number; entries: TreeEntry[] }>(
        `/api/snapshots/${id}/tree${query({ path, limit: shown })}`,
      ),
    [id, path, shown],
  );
  const drills = useLoad(() => get<{ drills: Drill[] }>('/api/drills?limit=1000').then((r) => r.drills), []);
  const check = useLoad(
    () => get<{ jobs: Job[] }>('/api/jobs?kind=check&limit=1').then((r) => r.jobs[0] ?? null),
    [],
  );
  const s = snap.data;
  const mine = drills.data?.filter((d) => s && d.snapshot === s.id) ?? [];
  const parts = path ? path.split('/') : [];
  const fetchFile = async (name: string) => {
    const full = [...parts, name].join('/');
    setMessage(`Downloading ${full}…`);
    try {
      await download(id, full);
      setMessage(`Downloaded ${full}; it was checked as it was read.`);
    } catch (err) {
      setMessage(`Download failed: ${(err as Error).message}`);
    }
  };
  return (
    <section aria-labelledby="snapshot-h">
      <p>
        <a href="#/snapshots">← All snapshots</a>
      </p>
      <h1 id="snapshot-h">Snapshot {short(id)}</h1>
      <Failure error={snap.error} />
      {s && (
        <dl class="facts">
          <dt>Source</dt>
          <dd>{s.source}</dd>
          <dt>Engine</dt>
          <dd>
            {s.engine} ({s.kind})
          </dd>
          <dt>Taken</dt>
          <dd>{time(s.time)}</dd>
          <dt>Host</dt>
          <dd>{s.host}</dd>
          {s.backup && (
            <>
              <dt>Backup</dt>
              <dd>
                {bytes(s.backup.bytesRead)} read, {bytes(s.backup.bytesAdded)} added,{' '}
                {seconds(s.backup.durationMs / 1000)}
              </dd>
            </>
          )}
          {typeof s.stats.files === 'number' && (
            <>
              <dt>Files</dt>
              <dd>
                {String(s.stats.files)} files, {String(s.stats.dirs ?? 0)} folders,{' '}
                {bytes(Number(s.stats.bytes ?? 0))}
              </dd>
            </>
          )}
          <dt>Id</dt>
          <dd>
            <code class="wrap">{s.id}</code>
          </dd>
        </dl>
      )}
      {s?.skippedCount ? (
        <section aria-labelledby="skipped-h" class="banner warn" data-testid="skipped-paths">
          <h2 id="skipped-h">
            {s.skippedCount} path{s.skippedCount === 1 ? '' : 's'} could not be read and{' '}
            {s.skippedCount === 1 ? 'is' : 'are'} not in this snapshot
          </h2>
          <ul>
            {s.skipped?.map((p) => (
              <li key={p.path}>
                <code class="wrap">{p.path}</code> <span class="muted">{p.error}</span>
              </li>
            ))}
          </ul>
          {(s.skipped?.length ?? 0) < s.skippedCount && (
            <p class="muted">The first {s.skipped?.length ?? 0} are listed.</p>
          )}
        </section>
      ) : null}
      {s && typeof s.stats.rows === 'object' && s.stats.rows && (
        <CountTable
          caption="Tables and their row counts"
          head="Table"
          counts={s.stats.rows as Record<string, unknown>}
        />
      )}
      {s && typeof s.stats.keys === 'object' && s.stats.keys && (
        <CountTable
          caption="Keys per database"
          head="Database"
          counts={s.stats.keys as Record<string, unknown>}
        />
      )}
      {s && typeof s.stats.documents === 'object' && s.stats.documents && (
        <CountTable
          caption="Documents per collection"
          head="Collection"
          counts={s.stats.documents as Record<string, unknown>}
        />
      )}
      <h2>Verification</h2>
      <p class="muted">
        Every chunk read back is authenticated (AES-GCM) and checked against its keyed hash; a download or
        restore also checks each file’s size, and its SHA-256 where the snapshot recorded one (database
        artifacts).
      </p>
      <ul>
        {check.data && (
          <li data-testid="last-check">
            Last repository check {time(check.data.finished_at ?? check.data.created_at)}:{' '}
            <span class={`badge ${check.data.status === 'failed' ? 'bad' : 'good'}`}>
              {check.data.status}
            </span>
            {typeof check.data.params.read_data_percent === 'number' &&
              ` (read ${check.data.params.read_data_percent}% of the packs)`}
            {check.data.error && <span class="error-text"> {check.data.error}</span>}
          </li>
        )}
        {check.data === null && <li>No repository check has run from this server yet.</li>}
        {mine.length === 0 && <li>No drill has restored this snapshot yet.</li>}
        {mine.map((d) => (
          <li key={d.id}>
            <a href={`#/drills/${d.id}`}>Drill {short(d.id)}</a> {time(d.time)}:{' '}
            <span class={`badge ${d.passed ? 'good' : 'bad'}`}>{d.passed ? 'passed' : 'FAILED'}</span>{' '}
            recovery time {seconds((d.rto_ms ?? 0) / 1000)}
          </li>
        ))}
      </ul>
      <h2>Contents</h2>
      <nav aria-label="Folder" class="crumbs">
        <button type="button" class="link" onClick={() => setPath('')}>
          root
        </button>
        {parts.map((p, i) => (
          <span key={p}>
            {' / '}
            <button type="button" class="link" onClick={() => setPath(parts.slice(0, i + 1).join('/'))}>
              {p}
            </button>
          </span>
        ))}
      </nav>
      <p role="status" aria-live="polite" class="status-line">
        {message}
      </p>
      <Failure error={tree.error} />
      {tree.data && (
        <Table
          caption={`Entries of /${path}`}
          class="tree"
          columns={[
            'Name',
            'Type',
            { label: 'Size', num: true },
            'Modified',
            'SHA-256',
            can(me, 'operator') && 'Download',
          ]}
        >
          {tree.data.entries.map((e) => (
            <tr key={e.name}>
              <th scope="row">
                {e.type === 'dir' ? (
                  <button
                    type="button"
                    class="link"
                    onClick={() => setPath([...parts, e.name].join('/'))}
                    aria-label={`Open folder ${e.name}`}
                  >
                    {e.name}/
                  </button>
                ) : (
                  e.name
                )}
                {e.target && <span class="muted"> → {e.target}</span>}
              </th>
              <td>{e.type}</td>
              <td class="num">{e.size === null ? '' : bytes(e.size)}</td>
              <td>{time(e.mtime)}</td>
              <td>
                <code title={e.sha256 ?? undefined}>{e.sha256 ? `${e.sha256.slice(0, 12)}…` : '–'}</code>
              </td>
              {can(me, 'operator') && (
                <td>
                  {e.type === 'file' && (
                    <button
                      type="button"
                      class="secondary"
                      onClick={() => fetchFile(e.name)}
                      aria-label={`Download ${e.name}`}
                    >
                      Download
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </Table>
      )}
      {tree.data && tree.data.total > tree.data.entries.length && (
        <p>
          {tree.data.entries.length} of {tree.data.total} entries shown.{' '}
          <button type="button" class="secondary" onClick={() => setShown((n) => n + PAGE)}>
            Show {Math.min(PAGE, tree.data.total - tree.data.entries.length)} more
          </button>
        </p>
      )}
    </section>
  );
}
