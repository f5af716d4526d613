/**
 * §C3, big-segment freshness. LaunchDarkly's SDKs report `bigSegmentsStatus: STALE` once
 * `<prefix>:big_segments_synchronized_on` is older than their `staleAfter` (120 s by default). The
 * Relay Proxy refreshes it every 30 s while it is in step with LaunchDarkly; the receiver is itself
 * where big-segment changes come from, so it is in step whenever it can write: while it runs with
 * Redis reachable, it refreshes the mark of every configured environment on a timer. When no
 * receiver runs, nothing refreshes it and the SDKs go STALE, as they should.
 */
import type { EnvironmentRef, SegmentStore } from '../store/types'
import type { ReceiverConfig } from './config'

/** How often the heartbeat runs unless told otherwise, as ld-relay's `synchronizedOnInterval`. */
export const DEFAULT_HEARTBEAT_MS = 30_000
/** When `/status` calls big segments potentially stale: the SDKs' default `staleAfter`. */
export const STALE_AFTER_MS = 120_000

/** What a store must offer for big-segment freshness (the Redis store does; SQLite has no SDK reader). */
export interface BigSegmentFreshness {
  readonly server: string
  markSynchronized(envs: readonly EnvironmentRef[], now?: number): Promise<void>
  synchronizedOn(env: EnvironmentRef): Promise<number | undefined>
}

export function bigSegmentFreshness(store: SegmentStore): (SegmentStore & BigSegmentFreshness) | undefined {
  const candidate = store as Partial<BigSegmentFreshness>
  return typeof candidate.markSynchronized === 'function' && typeof candidate.synchronizedOn === 'function'
    ? (store as SegmentStore & BigSegmentFreshness)
    : undefined
}

/** A configured environment with what `/status` shows of it. */
export interface ConfiguredEnvironment extends EnvironmentRef {
  clientSideId: string
}

export function configuredEnvironments(config: ReceiverConfig): ConfiguredEnvironment[] {
  return config.projects.flatMap((project) =>
    project.environments.map((env) => {
      const ref: ConfiguredEnvironment = {
        projectKey: project.key,
        environmentKey: env.key,
        clientSideId: env.clientSideId
      }
      if (env.redisPrefix !== undefined) ref.redisPrefix = env.redisPrefix
      return ref
    })
  )
}

/**
 * Whether the store answered the last time anyone asked (a heartbeat, `/status`), and since when:
 * the Relay Proxy's `dataStoreStatus.state` / `stateSince`. One per store, shared by both.
 */
export class StoreHealth {
  available = true
  since: number
  lastErrorAt: number | undefined

  constructor(now = Date.now()) {
    this.since = now
  }

  record(available: boolean, now = Date.now()): void {
    if (!available) this.lastErrorAt = now
    if (available === this.available) return
    this.available = available
    this.since = now
  }
}

const healthByStore = new WeakMap<SegmentStore, StoreHealth>()

export function storeHealth(store: SegmentStore): StoreHealth {
  let health = healthByStore.get(store)
  if (health === undefined) {
    health = new StoreHealth()
    healthByStore.set(store, health)
  }
  return health
}

export interface Heartbeat {
  /** Stops the timer and waits for a beat in flight, so the store can close after it. */
  stop(): Promise<void>
}

/**
 * Marks every environment synchronized now and then every `intervalMs` (unref'd: it never keeps
 * the process alive). A beat still running when the next is due is not doubled; a failed beat
 * (Redis down) only marks the store unavailable, and the next one tries again.
 */
export function startHeartbeat(
  store: SegmentStore & BigSegmentFreshness,
  envs: readonly EnvironmentRef[],
  intervalMs: number
): Heartbeat {
  const health = storeHealth(store)
  let inFlight: Promise<void> | undefined
  let stopped = false
  const beat = (): void => {
    if (inFlight !== undefined || stopped) return
    inFlight = store
      .markSynchronized(envs)
      .then(
        () => health.record(true),
        () => health.record(false)
      )
      .finally(() => {
        inFlight = undefined
      })
  }
  beat()
  const timer = setInterval(beat, intervalMs)
  timer.unref()
  return {
    async stop() {
      stopped = true
      clearInterval(timer)
      await inFlight
    }
  }
}
