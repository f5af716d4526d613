/**
 * `GET /status` (§C3): the Relay Proxy's status document, per configured environment, so the
 * checks people already run against ld-relay work against the receiver.
 *
 * - No token, as ld-relay's: it shows nothing secret. An environment shows its keys and its
 *   client-side ID (`envId`, public: browsers send it); the Redis server as `redis://host:port/db`
 *   without credentials, and the environment's prefix. Never a token, a token's name or an SDK key
 *   (the receiver has none, so `sdkKey` is absent).
 * - `dataStoreStatus` is the store's health as the last heartbeat or `/status` saw it. The receiver
 *   is its own data source (it takes syncs while it can write), so `connectionStatus` follows the
 *   store too, with `lastError.kind` `STORE_ERROR`.
 * - `bigSegmentStatus` on Redis: `available` when `big_segments_synchronized_on` could be read,
 *   `potentiallyStale` when it is missing or older than the SDKs' default `staleAfter` (120 s),
 *   `lastSynchronizedOn` its value (0 when unknown). On SQLite no SDK reads big segments from the
 *   receiver's store, so, as ld-relay without a big-segment store, there is no `bigSegmentStatus`.
 * - `status` is `healthy` when every environment is connected and, on Redis, big segments are
 *   available; else `degraded`. Staleness alone does not degrade (ld-relay's default). Always 200:
 *   `/healthz` is the endpoint that answers 503.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { DEFAULT_REDIS_PREFIX } from '../../store/types'
import {
  bigSegmentFreshness,
  configuredEnvironments,
  STALE_AFTER_MS,
  storeHealth,
  type ConfiguredEnvironment
} from '../big-segments'
import type { ReceiverContext } from './context'

type State = 'VALID' | 'INTERRUPTED'

interface BigSegmentStatusRep {
  available: boolean
  potentiallyStale: boolean
  lastSynchronizedOn: number
}

interface EnvironmentStatusRep {
  envId: string
  envKey: string
  projKey: string
  status: 'connected' | 'disconnected'
  connectionStatus: { state: State; stateSince: number; lastError?: { kind: 'STORE_ERROR'; time: number } }
  dataStoreStatus: {
    state: State
    stateSince: number
    database: 'redis' | 'sqlite'
    dbServer?: string
    dbPrefix?: string
  }
  bigSegmentStatus?: BigSegmentStatusRep
}

export interface StatusRep {
  environments: Record<string, EnvironmentStatusRep>
  status: 'healthy' | 'degraded'
  version: string
}

// The same relative path from src/receiver/routes and dist/receiver/routes; read once, at start.
const VERSION = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }
).version

const statusRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  const environments = configuredEnvironments(ctx.config)
  const freshness = bigSegmentFreshness(ctx.store)
  const health = storeHealth(ctx.store)

  const bigSegmentStatus = async (
    env: ConfiguredEnvironment,
    now: number
  ): Promise<BigSegmentStatusRep | undefined> => {
    if (freshness === undefined) return undefined
    try {
      const synchronizedOn = await freshness.synchronizedOn(env)
      return {
        available: true,
        potentiallyStale: synchronizedOn === undefined || now > synchronizedOn + STALE_AFTER_MS,
        lastSynchronizedOn: synchronizedOn ?? 0
      }
    } catch {
      return { available: false, potentiallyStale: true, lastSynchronizedOn: 0 }
    }
  }

  app.get('/status', async (): Promise<StatusRep> => {
    let reachable = true
    try {
      await ctx.store.ping()
    } catch {
      reachable = false
    }
    health.record(reachable)
    const now = Date.now()
    const state: State = health.available ? 'VALID' : 'INTERRUPTED'
    const reps = await Promise.all(
      environments.map(async (env): Promise<[string, EnvironmentStatusRep]> => {
        const rep: EnvironmentStatusRep = {
          envId: env.clientSideId,
          envKey: env.environmentKey,
          projKey: env.projectKey,
          status: health.available ? 'connected' : 'disconnected',
          connectionStatus: { state, stateSince: health.since },
          dataStoreStatus: { state, stateSince: health.since, database: freshness ? 'redis' : 'sqlite' }
        }
        if (health.lastErrorAt !== undefined)
          rep.connectionStatus.lastError = { kind: 'STORE_ERROR', time: health.lastErrorAt }
        if (freshness) {
          rep.dataStoreStatus.dbServer = `redis://${freshness.server}`
          rep.dataStoreStatus.dbPrefix = env.redisPrefix ?? DEFAULT_REDIS_PREFIX
        }
        const bigSegments = await bigSegmentStatus(env, now)
        if (bigSegments) rep.bigSegmentStatus = bigSegments
        return [`${env.projectKey}/${env.environmentKey}`, rep]
      })
    )
    const healthy = reps.every(
      ([, rep]) => rep.status === 'connected' && rep.bigSegmentStatus?.available !== false
    )
    return {
      environments: Object.fromEntries(reps),
      status: healthy ? 'healthy' : 'degraded',
      version: VERSION
    }
  })
}

export default statusRoutes
