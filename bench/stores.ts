/**
 * A fresh, empty store for each measurement: SQLite in a new temporary directory, or a new
 * redis-server (the tests' helper: a free loopback port, no persistence) that is stopped afterwards.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startRedisServer } from '../__tests__/helpers/redis-server'
import { processCpuSeconds } from './cpu'

export type StoreKind = 'sqlite' | 'redis'

export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'redis']

export interface FreshStore {
  /** The `--store` value: `sqlite` or the redis:// URL. */
  spec: string
  /** The receiver's data directory (the SQLite file lives here). */
  dataDir: string
  /** CPU time the store's own server has used so far (Redis); undefined for the embedded SQLite. */
  serverCpuSeconds: (() => number) | undefined
  /** Stops the Redis server, removes the directory. */
  dispose(): Promise<void>
}

export async function freshStore(kind: StoreKind): Promise<FreshStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-bench-'))
  const redis = kind === 'redis' ? await startRedisServer() : undefined
  const redisPid = redis ? findRedisServerPid(redis.port) : undefined
  return {
    spec: redis ? redis.url : 'sqlite',
    dataDir,
    serverCpuSeconds: redisPid === undefined ? undefined : () => processCpuSeconds(redisPid),
    async dispose() {
      await redis?.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

/** The redis-server listening on `port` (its command line reads `redis-server 127.0.0.1:<port>`). */
function findRedisServerPid(port: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (commandLine.startsWith('redis-server') && commandLine.includes(`:${port}`)) return Number(entry)
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no redis-server process for port ${port}`)
}
