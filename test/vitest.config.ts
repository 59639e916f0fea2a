import { projectConfig } from '../vitest.shared.js';

// Cross-process tests start real servers and clients: allow them time.
export default projectConfig({ include: ['**/*.test.ts'], testTimeout: 120_000 });
