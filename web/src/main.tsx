/**
 * @module web/main
 * The dashboard: sign-in with an API token, then views chosen by the hash route. What the
 * page offers follows the token's role (viewer < operator < admin); the server enforces the
 * same rules on every call.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import type { FunctionComponent } from 'preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { can, clearToken, get, getToken, type Me, type Role, setUnauthorizedHandler, signIn } from './api';
import { AppsView } from './apps';
import { History } from './history';
import { useRoute } from './hooks';
import { Overview } from './overview';
import { AlertsView, AuditView, DrillsView } from './reports';
import { RestoreView } from './restore';
import { SnapshotDetail, SnapshotsView } from './snapshots';
import { Failure } from './ui';

/** The charts (and uPlot) load only when the Charts view opens, to keep the first view small. */
function LazyCharts() {
  const [Charts, setCharts] = useState<FunctionComponent>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    import('./charts').then(
      (m) => setCharts(() => m.Charts),
      (err: Error) => setError(err.message),
    );
  }, []);
  if (error) return <p role="alert">Could not load the charts: {error}</p>;
  return Charts ? <Charts /> : <p>Loading charts…</p>;
}

const VIEWS: { path: string; label: string; role: Role }[] = [
  { path: '', label: 'Overview', role: 'viewer' },
  { path: 'history', label: 'History', role: 'viewer' },
  { path: 'charts', label: 'Charts', role: 'viewer' },
  { path: 'snapshots', label: 'Snapshots', role: 'viewer' },
  { path: 'restore', label: 'Restore', role: 'operator' },
  { path: 'apps', label: 'Apps', role: 'viewer' },
  { path: 'drills', label: 'Drills', role: 'viewer' },
  { path: 'alerts', label: 'Alerts', role: 'viewer' },
  { path: 'audit', label: 'Audit log', role: 'admin' },
];

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [token, setTokenText] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  // The token field takes the focus, also after signing out (whose button is gone by then).
  useEffect(() => field.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(token.trim()));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Lifeboat</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <label for="token">API token</label>
        <input
          id="token"
          ref={field}
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setTokenText(e.currentTarget.value)}
        />
        <p id="signin-help" class="muted">
          Create one with <code>lifeboat token create NAME --role viewer|operator|admin</code>. It is kept in
          this tab only (sessionStorage) and sent as a bearer header.
        </p>
        <button type="submit" disabled={busy || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <Failure error={error} />
      </form>
    </main>
  );
}

function Shell({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const route = useRoute();
  const heading = useRef<HTMLElement>(null);
  const view = route[0] ?? '';
  const visible = VIEWS.filter((v) => can(me, v.role));
  // Moving between views puts the focus at the top of the new one, for keyboard and screen readers.
  useEffect(() => {
    heading.current?.focus();
  }, [route.join('/')]);
  let body: preact.JSX.Element;
  switch (view) {
    case '':
      body = <Overview me={me} />;
      break;
    case 'history':
      body = <History />;
      break;
    case 'charts':
      body = <LazyCharts />;
      break;
    case 'snapshots':
      body = route[1] ? <SnapshotDetail id={route[1]} me={me} /> : <SnapshotsView />;
      break;
    case 'restore':
      body = can(me, 'operator') ? <RestoreView me={me} /> : <Denied />;
      break;
    case 'apps':
      body = <AppsView me={me} name={route[1]} />;
      break;
    case 'drills':
      body = <DrillsView me={me} id={route[1]} />;
      break;
    case 'alerts':
      body = <AlertsView />;
      break;
    case 'audit':
      body = can(me, 'admin') ? <AuditView /> : <Denied />;
      break;
    default:
      body = (
        <p>
          No such page. Go to the <a href="#/">overview</a>.
        </p>
      );
  }
  return (
    <>
      <button type="button" class="skip" onClick={() => heading.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Lifeboat</span>
        <nav aria-label="Views">
          <ul>
            {visible.map((v) => (
              <li key={v.path}>
                <a href={`#/${v.path}`} aria-current={view === v.path ? 'page' : undefined}>
                  {v.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span data-testid="whoami">
            {me.name} ({me.role})
          </span>
          <button type="button" class="link" onClick={onSignOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1} ref={heading} class="focus-target">
        {body}
      </main>
    </>
  );
}

function Denied() {
  return <p role="alert">Your token’s role cannot use this page.</p>;
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(getToken() ? undefined : null);
  useEffect(() => {
    setUnauthorizedHandler(() => {
      clearToken();
      setMe(null);
    });
    if (getToken()) {
      get<Me>('/api/whoami').then(setMe, () => {
        clearToken();
        setMe(null);
      });
    }
  }, []);
  if (me === undefined) return <p>Loading…</p>;
  if (me === null) return <SignIn onSignedIn={setMe} />;
  return (
    <Shell
      me={me}
      onSignOut={() => {
        clearToken();
        location.hash = '#/';
        setMe(null);
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
