/**
 * @module jobs/backup-run
 * A backup of several sources: each in turn, going on past the ones that fail, and the one
 * error that sums the run up for the exit code (restic's: 3 when some of it was saved).
 */
import type { ErrorCode } from '../errors.js';
import { LifeboatError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { SkippedPath } from '../sources/source.js';
import { backupSource, notAttempted, type RepositoryRef, type SourceBackupReport } from './backup.js';

export interface BackupRunRequest {
  sources: { name: string; config: Record<string, unknown> }[];
  tags?: string[];
  /** A progress renderer per snapshot taken. */
  progress?: () => Progress;
  /** Called as each source finishes, so a shell can show it before the next one starts. */
  onSource?: (report: SourceBackupReport) => void;
}

/**
 * Backs up each source in turn. A source that fails does not stop the others; an error of
 * the repository or the storage does (the rest are reported as not attempted). `repo` may
 * still be opening: the first source starts meanwhile.
 */
export async function runBackups(repo: RepositoryRef, req: BackupRunRequest): Promise<SourceBackupReport[]> {
  const reports: SourceBackupReport[] = [];
  let stop: LifeboatError | undefined;
  for (const { name, config } of req.sources) {
    const report: SourceBackupReport = stop
      ? { source: name, status: 'failed', saved: [], failures: [{ name, error: notAttempted(name, stop) }] }
      : await backupSource(repo, { name, config, tags: req.tags, progress: req.progress });
    // The first source starts while the repository opens; a repository that does not open
    // fails the run with its own error, the source stopped, the others not started.
    await repo;
    stop ??= report.stop;
    reports.push(report);
    req.onSource?.(report);
  }
  return reports;
}

/** The paths a source's snapshots left out, as listed in them, and how many there were in all. */
export function skippedOf(report: SourceBackupReport): { paths: SkippedPath[]; count: number } {
  const paths = report.saved.flatMap((o) => o.snapshot.skipped ?? []);
  const count = report.saved.reduce((n, o) => n + (o.snapshot.skippedCount ?? 0), 0);
  return { paths, count: Math.max(count, paths.length) };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The error a run ends with; undefined when everything was saved. A lone failure is that
 * source's own error. Otherwise `partial` (exit 3) when something was saved, a failure
 * (exit 1) when nothing was; the message names each failed source or unit and each source
 * with unreadable paths. The details (every error, every path) are the shell's to list.
 */
export function backupRunError(reports: SourceBackupReport[]): LifeboatError | undefined {
  const failures = reports.flatMap((r) => r.failures);
  const unreadable = reports.map((r) => ({ source: r.source, ...skippedOf(r) })).filter((u) => u.count > 0);
  if (failures.length === 0 && unreadable.length === 0) return undefined;
  const savedSources = reports.filter((r) => r.saved.length > 0).length;
  if (savedSources === 0 && failures.length === 1) return failures[0].error;
  const parts: string[] = [];
  if (failures.length > 0) parts.push(`failed: ${failures.map((f) => f.name).join(', ')}`);
  for (const u of unreadable) {
    const first = u.paths[0];
    const example = first ? `: ${first.path} (${first.error})${u.count > 1 ? ', ...' : ''}` : '';
    parts.push(
      `${plural(u.count, 'path')} of ${u.source} could not be read and ${u.count === 1 ? 'is' : 'are'} not in its snapshot${example}`,
    );
  }
  const one = reports.length === 1 ? reports[0].source : undefined;
  let head = `${savedSources} of ${plural(reports.length, 'source')} backed up`;
  if (one) head = savedSources === 0 ? `${one} not backed up` : `${one} backed up in part`;
  else if (savedSources === 0) head = 'no source backed up';
  const next =
    failures.length > 0
      ? 'each is listed above: fix it and back up again'
      : 'listed above: give the backup user read access, or exclude them';
  const message = `[backup] ${head}; ${parts.join('; ')} (${next})`;
  if (savedSources > 0) return new LifeboatError('partial', message);
  const codes = new Set(failures.map((f) => f.error.code));
  const code: ErrorCode = codes.size === 1 ? failures[0].error.code : 'source_failed';
  return new LifeboatError(code, message, { cause: failures[0].error });
}
