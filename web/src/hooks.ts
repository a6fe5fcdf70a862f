/**
 * @module web/hooks
 * Shared hooks: the hash route, and data that is fetched and refreshed on an interval.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** The route after `#/`, split on `/`: `#/snapshots/abc` gives ['snapshots', 'abc']. */
export function useRoute(): string[] {
  const read = () =>
    location.hash
      .replace(/^#\/?/, '')
      .split('/')
      .filter((p) => p.length > 0)
      .map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

/**
 * Loads `fn()` now, whenever `deps` change, and again every `everyMs(data)` milliseconds
 * (0: no refresh), so a view polls fast only while something runs.
 */
export function useLoad<T>(
  fn: () => Promise<T>,
  deps: unknown[],
  everyMs: (data: T | undefined) => number = () => 0,
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const call = ++latest.current;
    let timer: number | undefined;
    // A hidden tab does not poll; it catches up within a second of being shown again.
    const later = (ms: number) => {
      const fire = () => {
        if (document.hidden) timer = window.setTimeout(fire, 1000);
        else setTick((t) => t + 1);
      };
      timer = window.setTimeout(fire, ms);
    };
    fn().then(
      (d) => {
        if (call !== latest.current) return;
        setData(d);
        setError(undefined);
        const ms = everyMs(d);
        if (ms > 0) later(ms);
      },
      (err: Error) => {
        if (call !== latest.current) return;
        setError(err.message);
        later(10_000);
      },
    );
    return () => {
      latest.current++;
      window.clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload };
}
