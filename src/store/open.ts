/**
 * Opens the store a `--store` option names: `sqlite` (the embedded default, a file in the data
 * directory) or a `redis://` / `rediss://` URL. Each store module is loaded only when chosen, so
 * a SQLite receiver never loads the Redis client and vice versa.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { HistoryOptions } from './history'
import type { SegmentStore } from './types'

export const SQLITE_FILE = 'segments.db'

/** Which store a `--store` value names; throws for anything else, before a file or connection is made. */
export function storeKind(spec: string): 'sqlite' | 'redis' {
  if (spec === 'sqlite') return 'sqlite'
  if (/^rediss?:\/\//i.test(spec)) return 'redis'
  throw new Error(`unknown store "${spec}": use "sqlite" or a redis:// URL`)
}

export async function openStore(
  spec: string,
  dataDir: string,
  history: HistoryOptions = {}
): Promise<SegmentStore> {
  if (storeKind(spec) === 'sqlite') {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const { openSqliteStore } = await import('./sqlite')
    return openSqliteStore({ path: join(dataDir, SQLITE_FILE), ...history })
  }
  const { openRedisStore } = await import('./redis')
  return openRedisStore({ url: spec, ...history })
}
