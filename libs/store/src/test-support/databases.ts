// Reaching under a store in tests: SQL run straight on its database, and the
// PostgreSQL server and temp directories a test file uses, removed after it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '@tcpstate/testbed';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { SQLITE_FILE } from '../sqlite-store.js';

type Rows = Record<string, unknown>[];

/** Runs one statement on a SQLite store's data directory; rows for a query, [] otherwise. */
export function sqliteRows(dataDir: string, text: string): Rows {
  const db = new Database(join(dataDir, SQLITE_FILE));
  try {
    const statement = db.prepare(text);
    return statement.reader ? (statement.all() as Rows) : (statement.run(), []);
  } finally {
    db.close();
  }
}

/** Runs SQL on a PostgreSQL database by URL. */
export async function pgRows(url: string, text: string): Promise<Rows> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * A PostgreSQL server for the test file (started before its tests, stopped
 * after) and temp directories removed after it.
 */
export function testDatabases(prefix: string): { postgres(): TestPostgres; tempDir(): Promise<string> } {
  let server: TestPostgres | undefined;
  const dirs: string[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    postgres() {
      if (!server) throw new Error('PostgreSQL was not started');
      return server;
    },
    async tempDir() {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
}
