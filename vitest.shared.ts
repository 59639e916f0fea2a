// Shared vitest settings: tests run against the libraries' TypeScript sources
// (the "@tcpstate/source" export condition), not their built dist/.
import { defineConfig } from 'vitest/config';

// Vite adds 'import'/'require' itself; listing 'import' here would make CommonJS
// packages (pg) load ESM builds through require().
const conditions = ['@tcpstate/source', 'module', 'node', 'default'];

export function projectConfig(options: { testTimeout?: number; include?: string[] } = {}) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@tcpstate/source'] } },
    test: {
      include: options.include ?? ['src/**/*.test.ts'],
      testTimeout: options.testTimeout ?? 20_000,
      hookTimeout: options.testTimeout ?? 20_000,
      reporters: ['default'],
    },
  });
}
