/** `GET /healthz`: 200 while the store answers, 503 when it does not (for load balancers). */
import type { FastifyPluginAsync } from 'fastify'
import { StoreUnavailableError } from '../../errors'
import type { ReceiverContext } from './context'

const healthRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  app.get('/healthz', async (request) => {
    try {
      await ctx.store.ping()
    } catch (error) {
      request.log.warn({ err: error }, 'store ping failed')
      throw new StoreUnavailableError('the store is unreachable')
    }
    return { status: 'ok' }
  })
}

export default healthRoutes
