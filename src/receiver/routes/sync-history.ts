/**
 * `GET /api/v2/sync-history/:projectKey/:environmentKey` (SPEC §F): the environment's sync records,
 * newest first, filtered by `segmentKey`, `integration` and `status`, cursor paged with `limit` and
 * `after` (pass back `next`). Needs `viewProject` on the environment, checked before it is looked up.
 */
import type { FastifyPluginAsync } from 'fastify'
import { NotFoundError } from '../../errors'
import type { SyncStatus } from '../../store/types'
import { requireAction } from '../auth'
import { authorize, type ReceiverContext } from './context'

export const HISTORY_DEFAULT_LIMIT = 20
export const HISTORY_MAX_LIMIT = 100

interface HistoryRoute {
  Params: { projectKey: string; environmentKey: string }
  Querystring: {
    segmentKey?: string
    integration?: string
    status?: SyncStatus
    limit: number
    after?: string
  }
}

const countsSchema = {
  type: 'object',
  required: ['segmentKey', 'added', 'removed', 'unchanged'],
  properties: {
    segmentKey: { type: 'string' },
    added: { type: 'integer' },
    removed: { type: 'integer' },
    unchanged: { type: 'integer' }
  }
} as const

export const syncRecordSchema = {
  type: 'object',
  required: [
    'requestId',
    'time',
    'operation',
    'integration',
    'tokenName',
    'projectKey',
    'environmentKey',
    'segments',
    'members',
    'status',
    'statusCode',
    'durationMs'
  ],
  properties: {
    requestId: { type: 'string' },
    time: { type: 'number' },
    operation: { type: 'string' },
    integration: { type: 'string' },
    tokenName: { type: 'string' },
    projectKey: { type: 'string' },
    environmentKey: { type: 'string' },
    segments: { type: 'array', items: countsSchema },
    members: { type: 'integer' },
    status: { type: 'string' },
    statusCode: { type: 'integer' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } }
    },
    durationMs: { type: 'number' }
  }
} as const

const syncHistoryRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  app.get<HistoryRoute>(
    '/api/v2/sync-history/:projectKey/:environmentKey',
    {
      onRequest: async (request) => {
        authorize(ctx, request)
      },
      schema: {
        querystring: {
          type: 'object',
          properties: {
            segmentKey: { type: 'string' },
            integration: { type: 'string' },
            status: { enum: ['success', 'error'] },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: HISTORY_MAX_LIMIT,
              default: HISTORY_DEFAULT_LIMIT
            },
            after: { type: 'string' }
          }
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              items: { type: 'array', items: syncRecordSchema },
              next: { type: ['string', 'null'] }
            }
          }
        }
      }
    },
    async (request) => {
      const { projectKey, environmentKey } = request.params
      if (!request.principal) throw new Error('sync-history hook did not run')
      requireAction(request.principal, 'viewProject', projectKey, environmentKey)
      const env = ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`)
      if (!env) throw new NotFoundError(`unknown environment ${projectKey}/${environmentKey}`)
      const { segmentKey, integration, status, limit, after } = request.query
      return ctx.store.listSyncHistory(env, { segmentKey, integration, status, limit, after })
    }
  )
}

export default syncHistoryRoutes
