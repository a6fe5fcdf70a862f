/**
 * @module cli/recovery-settings
 * The command line's side of the recovery settings (jobs/pitr-settings.ts, made by
 * jobs/pitr pointRestoreCommand): read back into a context that opens the repository they name.
 */
import { type RecoverySettings, settingsRepository } from '../jobs/pitr-settings.js';
import type { CliContext } from './context.js';

export { type RecoverySettings, readRecoverySettings } from '../jobs/pitr-settings.js';

/** `ctx` reading the repository the settings name, its password got their way. */
export function settingsContext(ctx: CliContext, s: RecoverySettings): CliContext {
  return ctx.withRepository(settingsRepository(s));
}
