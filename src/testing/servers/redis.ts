/**
 * @module testing/servers/redis
 * The tests' throwaway redis: the one implementation lives in scratch/redis (drills use it too).
 */
export * from '../../scratch/redis.js';
