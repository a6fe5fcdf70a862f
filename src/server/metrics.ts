/**
 * @module server/metrics
 * Prometheus metrics (prom-client) on the server's own registry. Gauges are computed at scrape
 * time from the server's state (snapshot cache, catalog), so they are right after a restart;
 * the failure counter counts failures seen by this process. A source is one series whatever
 * units it saves: its newest good backup is the newest run that saved every unit, summed.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface SourceMetrics {
  name: string;
  /** Start of the newest good backup (the newest run that saved every unit). */
  lastSuccess?: Date;
  /** That backup: from its start to its last unit's end, and its bytes summed over its units. */
  lastDurationSeconds?: number;
  lastBytesRead?: number;
  lastBytesStored?: number;
  maxAgeSeconds?: number;
}

export interface MetricsState {
  now(): Date;
  sources(): SourceMetrics[];
  jobsRunning(): number;
  alertsFiring(): number | Promise<number>;
  snapshots(): number;
  freeBytes(): number | undefined;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly failures: Counter<'source'>;

  constructor(state: MetricsState, sourceNames: readonly string[]) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'lifeboat_last_success_timestamp_seconds',
      help: 'Start of the newest good backup of each source (every unit saved), seconds since the epoch',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of state.sources())
          if (s.lastSuccess) this.set({ source: s.name }, s.lastSuccess.getTime() / 1000);
      },
    });
    new Gauge({
      name: 'lifeboat_rpo_seconds',
      help: 'Age of the newest good backup of each source: the data a loss now would cost',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        const now = state.now().getTime();
        for (const s of state.sources()) {
          if (s.lastSuccess)
            this.set({ source: s.name }, Math.max(0, (now - s.lastSuccess.getTime()) / 1000));
        }
      },
    });
    new Gauge({
      name: 'lifeboat_rpo_max_age_seconds',
      help: 'The max_age (RPO objective) configured for each source',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of state.sources())
          if (s.maxAgeSeconds !== undefined) this.set({ source: s.name }, s.maxAgeSeconds);
      },
    });
    new Gauge({
      name: 'lifeboat_backup_duration_seconds',
      help: 'Duration of the newest good backup of each source, from its start to its last unit’s end',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of state.sources()) {
          if (s.lastDurationSeconds !== undefined) this.set({ source: s.name }, s.lastDurationSeconds);
        }
      },
    });
    new Gauge({
      name: 'lifeboat_backup_bytes',
      help: 'Bytes of the newest good backup of each source, summed over its units: read from the source, and newly stored',
      labelNames: ['source', 'type'],
      registers,
      collect() {
        this.reset();
        for (const s of state.sources()) {
          if (s.lastBytesRead !== undefined) this.set({ source: s.name, type: 'read' }, s.lastBytesRead);
          if (s.lastBytesStored !== undefined)
            this.set({ source: s.name, type: 'stored' }, s.lastBytesStored);
        }
      },
    });
    this.failures = new Counter({
      name: 'lifeboat_backup_failures_total',
      help: 'Backups of each source that failed, since the server started',
      labelNames: ['source'],
      registers,
    });
    for (const name of sourceNames) this.failures.inc({ source: name }, 0);
    new Gauge({
      name: 'lifeboat_jobs_running',
      help: 'Jobs running now',
      registers,
      collect() {
        this.set(state.jobsRunning());
      },
    });
    new Gauge({
      name: 'lifeboat_alerts_firing',
      help: 'Alerts holding now',
      registers,
      async collect() {
        this.set(await state.alertsFiring());
      },
    });
    new Gauge({
      name: 'lifeboat_snapshots',
      help: 'Snapshots in the repository',
      registers,
      collect() {
        this.set(state.snapshots());
      },
    });
    new Gauge({
      name: 'lifeboat_repository_free_bytes',
      help: 'Free space where a local repository lives',
      registers,
      collect() {
        const free = state.freeBytes();
        if (free !== undefined) this.set(free);
      },
    });
  }

  backupFailed(source: string): void {
    this.failures.inc({ source });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
