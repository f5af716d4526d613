/**
 * Opens the store a `--store` option names: `sqlite` (the embedded default, a file in the data
 * directory) or a `redis://` / `rediss://` URL. Each store module is loaded only when chosen, so
 * a SQLite receiver never loads the Redis client and vice versa.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { SegmentStore } from './types'

export const SQLITE_FILE = 'segments.db'

export async function openStore(spec: string, dataDir: string): Promise<SegmentStore> {
  if (spec === 'sqlite') {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const { openSqliteStore } = await import('./sqlite')
    return openSqliteStore({ path: join(dataDir, SQLITE_FILE) })
  }
  if (/^rediss?:\/\//i.test(spec)) {
    const { openRedisStore } = await import('./redis')
    return openRedisStore({ url: spec })
  }
  throw new Error(`unknown store "${spec}": use "sqlite" or a redis:// URL`)
}
