/**
 * @module test/helpers/mongo
 * A MongoDB server for live suites: the shared throwaway replica set (src/testing/servers/mongod),
 * and whether a tool runs here.
 */
import { spawnSync } from 'node:child_process';

export { mongoUnavailable, startMongod } from '../../src/testing/servers/mongod.js';

/** Whether `cmd` runs here. */
export const has = (cmd: string) => !spawnSync(cmd, ['--version'], { encoding: 'utf8' }).error;
