import { readFileSync } from 'node:fs';

/** The agent's version, from its package.json (one level above src/ and dist/). */
export const agentVersion: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;
