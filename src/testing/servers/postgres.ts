/**
 * @module testing/servers/postgres
 * The tests' throwaway postgres: the one implementation lives in scratch/postgres (drills use it too).
 */
export * from '../../scratch/postgres.js';
