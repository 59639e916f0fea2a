import { projectConfig } from '../../vitest.shared.js';

// Real databases: PostgreSQL is started by the suite.
export default projectConfig({ testTimeout: 60_000 });
