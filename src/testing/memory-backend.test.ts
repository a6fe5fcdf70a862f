import { runBackendContract } from './backend-contract.js';
import { createMemoryBackend } from './memory-backend.js';

runBackendContract('memory', async () => ({ backend: createMemoryBackend(), cleanup: async () => {} }));
