/**
 * `GET /metrics`: the Prometheus text format of the app's own registry. Like `/healthz`, it needs no
 * token — scrapers rarely carry one, and no label holds a context key, a token or a token name; a
 * receiver reachable beyond its operators should be put behind a proxy that restricts the path.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { SyncMetrics } from '../metrics'

const metricsRoutes: FastifyPluginAsync<{ metrics: SyncMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(text)
  })
}

export default metricsRoutes
