/**
 * `HEAD|GET /sdk/goals/:clientId` (§B5): LaunchDarkly's client-side SDK endpoint, used by the
 * destination to check a client-side ID. No token: client-side IDs are public.
 */
import type { FastifyPluginAsync } from 'fastify'
import { NotFoundError } from '../../errors'
import type { ReceiverContext } from './context'

const sdkRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  // Fastify answers HEAD from the GET route (exposeHeadRoutes), with the same status and no body.
  app.get<{ Params: { clientId: string } }>('/sdk/goals/:clientId', async (request) => {
    if (!ctx.environmentsByClientSideId.has(request.params.clientId)) {
      throw new NotFoundError('no environment has this client-side ID', 'unknown_environment')
    }
    return []
  })
}

export default sdkRoutes
