/**
 * @module cli/main
 * The `lifeboat` command line: the contract in DESIGN.md, "Command line".
 */
import { Command, CommanderError } from 'commander';
import { EXIT_CODES } from '../errors.js';
import { releaseAllLocks } from '../repo/lock.js';
import { VERSION } from '../version.js';
import { registerAppCommands } from './app-commands.js';
import { registerDataCommands } from './data-commands.js';
import { registerDrillCommands } from './drill-commands.js';
import { registerInspectCommands } from './inspect-commands.js';
import { registerKeyCommands } from './key-commands.js';
import { registerRepairCommands } from './repair-commands.js';
import { registerRepoCommands } from './repo-commands.js';
import { registerServerCommands } from './server-commands.js';
import { makeAction } from './shell.js';
import { registerWalCommands } from './wal-commands.js';

const program = new Command('lifeboat')
  .description('backup and disaster recovery for the data of running applications')
  .version(VERSION)
  .option('--config <file>', 'config file (default: $LIFEBOAT_CONFIG or ./lifeboat.yaml)')
  .option('--json', 'machine-readable output')
  .option('-q, --quiet', 'no progress output')
  .option('--debug', 'show stack traces on errors')
  .option('--repo <url>', 'the repository (over $LIFEBOAT_REPO and repository.url)')
  .option('--password-file <file>', "read the repository's password from this file (over $LIFEBOAT_PASSWORD)")
  .option('--limit-upload <kib>', 'limit uploads to the repository to this many KiB/s')
  .option('--limit-download <kib>', 'limit downloads from the repository to this many KiB/s')
  .exitOverride()
  .showHelpAfterError('(run `lifeboat --help` for usage)');

const action = makeAction();
registerRepoCommands(program, action);
registerInspectCommands(program, action);
registerRepairCommands(program, action);
registerKeyCommands(program, action);
registerDataCommands(program, action);
registerServerCommands(program, action);
registerWalCommands(program, action);
registerDrillCommands(program, action);
registerAppCommands(program, action);

// Every command takes the global options after its name too ("lifeboat backup --config f").
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
      .option('--limit-upload <kib>', 'limit uploads to the repository to this many KiB/s')
      .option('--limit-download <kib>', 'limit downloads from the repository to this many KiB/s')
      .exitOverride();
  }
}
addGlobals(program);

// An interrupted command releases its repository locks; what it wrote stays unreferenced
// (the snapshot is the commit), and the next backup reuses it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nlifeboat: interrupted by ${signal}; nothing was committed\n`);
    void releaseAllLocks().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
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
