/**
 * @module notify/alert-dispatcher
 * Turns "what holds now" into messages: an alert fires once when it starts to hold, is sent
 * again every `repeatMs` while it holds, and is resolved when it clears. Its state lives in
 * the catalog, so a restart neither repeats a page early nor forgets to resolve one.
 */
import type { AlertRecord } from '../catalog/catalog.js';
import type { CatalogStore } from '../catalog/catalog-store.js';
import type { Clock } from '../clock.js';
import { describe } from '../errors.js';
import type { AlertCondition } from './alert-rules.js';
import type { AlertChannel, AlertEvent, AlertKind } from './channel.js';

/** The slice of a pino logger the dispatcher uses. */
export interface Log {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export interface DispatcherOptions {
  repeatMs: number;
  origin: AlertEvent['origin'];
  log: Log;
}

export interface DispatchReport {
  fired: string[];
  repeated: string[];
  resolved: string[];
}

export class AlertDispatcher {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly catalog: CatalogStore,
    private readonly channels: readonly AlertChannel[],
    private readonly clock: Clock,
    private readonly options: DispatcherOptions,
  ) {}

  /** Brings alert state in line with `holding`; evaluations run one at a time. */
  reconcile(holding: readonly AlertCondition[]): Promise<DispatchReport> {
    const run = this.chain.then(() => this.reconcileNow(holding));
    this.chain = run.catch(() => {});
    return run;
  }

  close(): void {
    for (const c of this.channels) c.close?.();
  }

  private async reconcileNow(holding: readonly AlertCondition[]): Promise<DispatchReport> {
    const now = this.clock.now();
    const report: DispatchReport = { fired: [], repeated: [], resolved: [] };
    const held = new Set(holding.map((c) => c.key));
    for (const cond of holding) {
      const prior = await this.catalog.getAlert(cond.key);
      const isNew = !prior || prior.state === 'resolved';
      const due =
        !isNew &&
        (prior.last_sent_at === null ||
          now.getTime() - new Date(prior.last_sent_at).getTime() >= this.options.repeatMs);
      const record: AlertRecord = {
        key: cond.key,
        kind: cond.kind,
        source: cond.source,
        state: 'firing',
        summary: cond.summary,
        details: { ...cond.details, severity: cond.severity },
        first_at: isNew ? now.toISOString() : prior.first_at,
        last_sent_at: prior && !isNew ? prior.last_sent_at : null,
        resolved_at: null,
        sends: isNew ? 0 : prior.sends,
      };
      if (isNew || due) {
        const delivered = await this.send(record, 'trigger', !isNew, cond.severity);
        // Undelivered (every channel failed) stays due, so the next evaluation tries again.
        if (delivered) {
          record.last_sent_at = now.toISOString();
          record.sends++;
        }
        (isNew ? report.fired : report.repeated).push(cond.key);
      }
      await this.catalog.saveAlert(record);
    }
    for (const prior of await this.catalog.listAlerts('firing')) {
      if (held.has(prior.key)) continue;
      const record: AlertRecord = { ...prior, state: 'resolved', resolved_at: now.toISOString() };
      const severity = (prior.details.severity as AlertEvent['alert']['severity']) ?? 'error';
      // Resolve only where the trigger went: a never-delivered alert has nothing to resolve.
      if (prior.sends > 0) await this.send(record, 'resolve', false, severity);
      await this.catalog.saveAlert(record);
      report.resolved.push(prior.key);
    }
    return report;
  }

  /** Sends to every channel that takes this kind; true when at least one took it (or none wants it). */
  private async send(
    record: AlertRecord,
    action: 'trigger' | 'resolve',
    repeat: boolean,
    severity: AlertEvent['alert']['severity'],
  ): Promise<boolean> {
    const { severity: _s, ...details } = record.details;
    const event: AlertEvent = {
      action,
      repeat,
      alert: {
        key: record.key,
        kind: record.kind as AlertKind,
        source: record.source,
        severity,
        summary: record.summary,
        details,
        first_at: record.first_at,
        resolved_at: record.resolved_at,
      },
      time: this.clock.now().toISOString(),
      origin: this.options.origin,
    };
    const targets = this.channels.filter((c) => c.accepts(event.alert.kind));
    if (targets.length === 0) return true;
    const results = await Promise.allSettled(targets.map((c) => c.send(event)));
    let delivered = false;
    results.forEach((r, i) => {
      const fields = { alert: record.key, action, repeat, channel: targets[i].label };
      if (r.status === 'fulfilled') {
        delivered = true;
        this.options.log.info(
          fields,
          `alert ${action === 'resolve' ? 'resolved' : 'sent'}: ${record.summary}`,
        );
      } else {
        this.options.log.error(
          { ...fields, err: describe(r.reason) },
          `alert not delivered: ${describe(r.reason)}`,
        );
      }
    });
    return delivered;
  }
}
