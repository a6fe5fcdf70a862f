/**
 * @module testing/servers/free-port
 * A free loopback port for the tests' servers: the one implementation lives in
 * scratch/free-port (drills use it too).
 */
export * from '../../scratch/free-port.js';
