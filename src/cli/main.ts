/**
 * @module cli/main
 * The `lifeboat` command line: the forms docs/cli.md documents, which scripts call as they are.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODES } from '../errors.js';
import { VERSION } from '../version.js';
import { registerAppCommands } from './app-commands.js';
import { registerCatalogCommands } from './catalog-commands.js';
import { registerDataCommands } from './data-commands.js';
import { registerDrillCommands } from './drill-commands.js';
import { registerInspectCommands } from './inspect-commands.js';
import { registerKeyCommands } from './key-commands.js';
import { registerRepairCommands } from './repair-commands.js';
import { registerRepoCommands } from './repo-commands.js';
import { registerServerCommands } from './server-commands.js';
import { makeAction } from './shell.js';
import { registerWalCommands } from './wal-commands.js';

/** --json anywhere on the line: commander reports usage errors before any command runs. */
const jsonMode = process.argv.slice(2).includes('--json');

const program = new Command('lifeboat')
  .description('backup and disaster recovery for the data of running applications')
  .version(VERSION)
  .option('--config <file>', 'config file (default: $LIFEBOAT_CONFIG or ./lifeboat.yaml)')
  .option('--json', 'machine-readable output')
  .option('-q, --quiet', 'no progress output')
  .option('--debug', 'show stack traces on errors')
  .option('--repo <url>', 'the repository (over $LIFEBOAT_REPO and repository.url)')
  .option('--password-file <file>', "read the repository's password from this file (over $LIFEBOAT_PASSWORD)")
  .option('--limit-upload <kib>', 'limit uploads to this many KiB/s, or a size per second (2MiB)')
  .option('--limit-download <kib>', 'limit downloads to this many KiB/s, or a size per second (2MiB)')
  .exitOverride()
  .showHelpAfterError(jsonMode ? false : '(run `lifeboat --help` for usage)');
// Under --json a usage error is an error object too (commands inherit this output).
if (jsonMode) {
  program.configureOutput({
    outputError: (text, write) =>
      write(
        `${JSON.stringify({ type: 'error', code: 'usage', exit: EXIT_CODES.usage, message: text.replace(/^error: /, '').trim(), retryable: false })}\n`,
      ),
  });
}

const action = makeAction();
registerRepoCommands(program, action);
registerInspectCommands(program, action);
registerRepairCommands(program, action);
registerKeyCommands(program, action);
registerDataCommands(program, action);
registerServerCommands(program, action);
registerCatalogCommands(program, action);
registerWalCommands(program, action);
registerDrillCommands(program, action);
registerAppCommands(program, action);

// Every command takes the global options after its name too ("lifeboat backup --config f").
// The rate limits are listed once, in `lifeboat --help`: on every command they were noise.
function addGlobals(cmd: Command): void {
  for (const sub of cmd.commands) {
    if (sub.commands.length > 0) addGlobals(sub);
    sub
      .option('--config <file>', 'config file')
      .option('--json', 'machine-readable output')
      .option('-q, --quiet', 'no progress output')
      .option('--debug', 'show stack traces on errors')
      .option('--repo <url>', 'the repository')
      .option('--password-file <file>', "read the repository's password from this file")
      .addOption(new Option('--limit-upload <kib>').hideHelp())
      .addOption(new Option('--limit-download <kib>').hideHelp())
      .exitOverride();
  }
}
addGlobals(program);

// An interrupted command releases its repository locks; what a backup wrote stays
// unreferenced (the snapshot is the commit), and the next backup reuses it. A restore says
// what it wrote and left (interrupt-note.ts).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Loaded here, not at start: a command that took locks or set a note has loaded them.
    void import('./interrupt-note.js')
      .then(({ interruptNote }) => interruptNote())
      .then((note) => process.stderr.write(`\nlifeboat: interrupted by ${signal}; ${note}\n`))
      .then(() => import('../repo/lock.js'))
      .then(({ releaseAllLocks }) => releaseAllLocks())
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.usage);
  }
  throw err;
}
