/**
 * Health for load balancers and orchestrators: `GET /livez` (the process answers), `GET /readyz` and
 * `GET /healthz` (200 while the store answers, 503 when it does not).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { StoreUnavailableError } from '../../errors'
import type { ReceiverContext } from './context'

const healthRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  const storeReachable = async (request: FastifyRequest) => {
    try {
      await ctx.store.ping()
    } catch (error) {
      request.log.warn({ err: error }, 'store ping failed')
      throw new StoreUnavailableError('the store is unreachable')
    }
    return { status: 'ok' }
  }
  app.get('/healthz', storeReachable)
  app.get('/readyz', storeReachable)
  // Never touches the store: a restart will not fix an unreachable Redis.
  app.get('/livez', async () => ({ status: 'ok' }))
}

export default healthRoutes
