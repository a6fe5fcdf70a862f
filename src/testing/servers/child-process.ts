/**
 * @module testing/servers/child-process
 * Stopping a test server's process: the one implementation lives in scratch/child-process
 * (drills use it too).
 */
export * from '../../scratch/child-process.js';
