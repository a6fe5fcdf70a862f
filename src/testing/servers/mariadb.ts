/**
 * @module testing/servers/mariadb
 * The tests' throwaway mariadb: the one implementation lives in scratch/mariadb (drills use it too).
 */
export * from '../../scratch/mariadb.js';
