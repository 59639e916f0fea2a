import { projectConfig } from '../../vitest.shared.js';

// The end-to-end tests start an agent, nginx and the built CLI: allow them time.
export default projectConfig({ testTimeout: 60_000 });
