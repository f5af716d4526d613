/**
 * The receiver's Prometheus metrics (SPEC §F), in a registry of its own per app so that several apps
 * in one process (tests, embedding) never share or clash. Labels are integration keys, routes as
 * declared (`/api/v2/segments/:proj/:env/:key`, never the path as sent), projects and environments:
 * never a context key, a token or a token name.
 */
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { EnvironmentRef, SegmentStore, SyncSegmentCounts } from '../store/types'
import type { ReceiverContext } from './routes/context'

export interface SyncMetrics {
  readonly registry: Registry
  /** One recorded write request: its integration, whether it failed, and a 2xx's counts. */
  countSync(integration: string, failed: boolean, counts: SyncSegmentCounts[] | undefined): void
}

/** Seconds; from a fast in-memory request to a large import waiting for its commit. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The store with `apply` timed into `synced_segments_store_apply_duration_seconds`. Every other
 * member is the store's own, called on the store itself (its state stays in one object).
 */
function timedStore(store: SegmentStore, histogram: Histogram<'store'>): SegmentStore {
  const labels = { store: store.kind }
  const apply: SegmentStore['apply'] = async (...args) => {
    const end = histogram.startTimer(labels)
    try {
      return await store.apply(...args)
    } finally {
      end()
    }
  }
  return new Proxy(store, {
    get(target, property) {
      if (property === 'apply') return apply
      const value: unknown = Reflect.get(target, property)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}

/**
 * Creates the registry and its metrics, times the store's applies (replacing `ctx.store`), and times
 * every request by its declared route.
 */
export function registerMetrics(app: FastifyInstance, ctx: ReceiverContext): SyncMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from a request arriving to its response being sent, by declared route',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry]
  })
  const syncRequests = new Counter({
    name: 'synced_segments_sync_requests_total',
    help: 'Write requests whose token was recognised, by integration and outcome',
    labelNames: ['integration', 'status'] as const,
    registers: [registry]
  })
  const membersChanged = new Counter({
    name: 'synced_segments_members_changed_total',
    help: 'Membership ops of successful writes: added, removed, or unchanged (changed nothing)',
    labelNames: ['integration', 'op'] as const,
    registers: [registry]
  })
  const applyDuration = new Histogram({
    name: 'synced_segments_store_apply_duration_seconds',
    help: "Time the store took to apply one request's changes durably",
    labelNames: ['store'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry]
  })
  const environments = [...ctx.environmentsByPath.values()]
  // While the store is down the gauges go missing rather than failing the scrape: the process
  // metrics and counters are what an operator needs most then.
  const eachReachable = async (read: (env: EnvironmentRef) => Promise<void>): Promise<void> => {
    try {
      for (const env of environments) await read(env)
    } catch {
      // Reported by /readyz; this scrape simply has no store gauges.
    }
  }
  // Read from the store at scrape time, so receivers sharing a Redis all report the shared figures.
  new Gauge({
    name: 'synced_segments_segments',
    help: 'Segments in an environment',
    labelNames: ['project', 'environment'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      await eachReachable(async (env) => {
        const { totalCount } = await ctx.store.listSegments(env, { limit: 0, offset: 0 })
        this.set({ project: env.projectKey, environment: env.environmentKey }, totalCount)
      })
    }
  })
  new Gauge({
    name: 'synced_segments_big_segments_synchronized_on_timestamp_seconds',
    help: "Unix time of an environment's last write (the big-segment store's synchronized-on mark)",
    labelNames: ['project', 'environment'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      await eachReachable(async (env) => {
        const at = await ctx.store.synchronizedOn(env)
        if (at !== undefined)
          this.set({ project: env.projectKey, environment: env.environmentKey }, at / 1000)
      })
    }
  })

  ctx.store = timedStore(ctx.store, applyDuration)

  app.addHook('onResponse', (request, reply, done) => {
    httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: reply.statusCode
      },
      reply.elapsedTime / 1000
    )
    done()
  })

  return {
    registry,
    countSync(integration, failed, counts) {
      syncRequests.inc({ integration, status: failed ? 'error' : 'success' })
      if (failed || !counts) return
      let added = 0
      let removed = 0
      let unchanged = 0
      for (const c of counts) {
        added += c.added
        removed += c.removed
        unchanged += c.unchanged
      }
      if (added > 0) membersChanged.inc({ integration, op: 'added' }, added)
      if (removed > 0) membersChanged.inc({ integration, op: 'removed' }, removed)
      if (unchanged > 0) membersChanged.inc({ integration, op: 'unchanged' }, unchanged)
    }
  }
}
