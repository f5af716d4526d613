/** `GET /api/v2/versions` (§B5): what the destination's testAuthentication calls to check a token. */
import type { FastifyPluginAsync } from 'fastify'
import { authorize, type ReceiverContext } from './context'

/** LaunchDarkly's REST API versions; the destination sends `LD-API-Version: 20240415`. */
export const API_VERSIONS = {
  validVersions: [20220603, 20240415],
  latestVersion: 20240415,
  currentVersion: 20240415,
  beta: false
}

const versionsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  app.get(
    '/api/v2/versions',
    {
      onRequest: async (request) => {
        authorize(ctx, request)
      }
    },
    async () => API_VERSIONS
  )
}

export default versionsRoutes
