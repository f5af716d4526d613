/**
 * A fresh, empty store for each measurement: SQLite in a new temporary directory, or a new
 * redis-server (the tests' helper: a free loopback port, no persistence) that is stopped afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startRedisServer } from '../__tests__/helpers/redis-server'

export type StoreKind = 'sqlite' | 'redis'

export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'redis']

export interface FreshStore {
  /** The `--store` value: `sqlite` or the redis:// URL. */
  spec: string
  /** The receiver's data directory (the SQLite file lives here). */
  dataDir: string
  /** Stops the Redis server, removes the directory. */
  dispose(): Promise<void>
}

export async function freshStore(kind: StoreKind): Promise<FreshStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-bench-'))
  const redis = kind === 'redis' ? await startRedisServer() : undefined
  return {
    spec: redis ? redis.url : 'sqlite',
    dataDir,
    async dispose() {
      await redis?.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}
