/**
 * @module sources/files/files-exclude
 * Exclude patterns, gitignore-like: a pattern without '/' matches a name at any depth
 * (`*.tmp`), a pattern with '/' matches the path from the backup root (`logs/*.log`, a
 * leading '/' is allowed), and a trailing '/' limits it to directories (`.cache/`).
 */
import picomatch from 'picomatch';

/** True when the entry at `relPath` ('/'-separated, from the root) is excluded. */
export type ExcludeMatcher = (relPath: string, isDir: boolean) => boolean;

interface CompiledPattern {
  dirOnly: boolean;
  onBasename: boolean;
  test: (input: string) => boolean;
}

function compile(pattern: string): CompiledPattern {
  let body = pattern;
  const dirOnly = body.endsWith('/');
  if (dirOnly) body = body.replace(/\/+$/, '');
  const anchored = body.startsWith('/');
  if (anchored) body = body.replace(/^\/+/, '');
  // dot: `*` also matches names that start with '.', as users expect from `*.tmp`.
  const test = picomatch(body, { dot: true });
  return { dirOnly, onBasename: !anchored && !body.includes('/'), test };
}

/** Compiles the patterns once; an empty list excludes nothing. */
export function createExcludeMatcher(patterns: readonly string[] = []): ExcludeMatcher {
  const compiled = patterns.filter((p) => p.replace(/\//g, '') !== '').map(compile);
  if (compiled.length === 0) return () => false;
  return (relPath, isDir) => {
    const slash = relPath.lastIndexOf('/');
    const base = slash < 0 ? relPath : relPath.slice(slash + 1);
    for (const p of compiled) {
      if (p.dirOnly && !isDir) continue;
      if (p.test(p.onBasename ? base : relPath)) return true;
    }
    return false;
  };
}
