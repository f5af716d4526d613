/**
 * The read and maintenance API of §B5 under `/api/v2/segments`. Reads need `viewProject`, delete
 * needs `deleteSegment`, each for the environment in the path. The scope is checked before the
 * environment is looked up, so a token learns nothing about environments it may not see.
 *
 * Members are streamed: `{"totalCount": n, "items": ["key", …], "next": "<cursor>" | null}`, where
 * `next` is the last key of the page when more follow — pass it back as `after`.
 */
import { Readable } from 'node:stream'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { BadRequestError, NotFoundError } from '../../errors'
import type { EnvironmentRef } from '../../store/types'
import type { Action } from '../config'
import { requireAction } from '../auth'
import { beginSyncRecord, deleteRecorded, noteSync } from '../history'
import { authorize, JSON_TYPE, type ReceiverContext } from './context'

/** LaunchDarkly's maximum and default page size for segment lists. */
export const LIST_MAX_LIMIT = 50
export const MEMBERS_DEFAULT_LIMIT = 1000
/** Pages are streamed, so a large one costs no memory; the cap only bounds a single response's time. */
export const MEMBERS_MAX_LIMIT = 1_000_000
/** Members are written in chunks of about this many characters, not one write per key. */
const STREAM_CHUNK_CHARS = 16 * 1024

interface EnvParams {
  projectKey: string
  environmentKey: string
}
interface SegmentParams extends EnvParams {
  segmentKey: string
}

const segmentSchema = {
  type: 'object',
  required: ['key', 'name', 'unbounded', 'unboundedContextKind', 'generation', 'creationDate', 'lastModifiedDate', '_external', 'includedCount'],
  properties: {
    key: { type: 'string' },
    name: { type: 'string' },
    unbounded: { type: 'boolean' },
    unboundedContextKind: { type: 'string' },
    generation: { type: 'integer' },
    creationDate: { type: 'number' },
    lastModifiedDate: { type: 'number' },
    _external: { type: 'string' },
    _externalLink: { type: 'string' },
    includedCount: { type: 'integer' },
    _lastSync: {
      type: 'object',
      required: ['time', 'status', 'added', 'removed'],
      properties: { time: { type: 'number' }, status: { type: 'string' }, added: { type: 'integer' }, removed: { type: 'integer' } }
    }
  }
} as const

/** The JSON of a members page, produced as the store yields keys (`limit + 1` asked for, to know whether more follow). */
export async function* membersPageJson(totalCount: number, members: AsyncIterable<string>, limit: number): AsyncGenerator<string> {
  let chunk = `{"totalCount":${totalCount},"items":[`
  let count = 0
  let last: string | undefined
  let next: string | undefined
  for await (const key of members) {
    if (count === limit) {
      next = last
      break
    }
    chunk += count === 0 ? JSON.stringify(key) : `,${JSON.stringify(key)}`
    count += 1
    last = key
    if (chunk.length >= STREAM_CHUNK_CHARS) {
      yield chunk
      chunk = ''
    }
  }
  yield `${chunk}],"next":${next === undefined ? 'null' : JSON.stringify(next)}}`
}

/**
 * A paging number as the store may take it. ajv's integer coercion turns "1e400" or "Infinity" into
 * Infinity and then skips `maximum`; such values, or integers past 2^53, must be a 400 here, not a
 * store error answered as 503.
 */
function pagingNumber(value: number, name: string): number {
  if (!Number.isSafeInteger(value)) throw new BadRequestError(`querystring/${name} must be an integer below 2^53`)
  return value
}

const segmentsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  app.addHook('onRequest', async (request) => {
    if (request.method === 'DELETE') beginDeleteRecord(request)
    authorize(ctx, request)
  })

  /** A delete is a write: recorded from the moment its token is recognised, rate limit included. */
  const beginDeleteRecord = (request: FastifyRequest): void => {
    const principal = ctx.authority.lookup(request.headers.authorization)
    if (!principal) return
    const { projectKey, environmentKey, segmentKey } = request.params as Partial<SegmentParams>
    beginSyncRecord(request, principal, 'delete', '')
    noteSync(request, {
      env: ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`),
      segmentKeys: segmentKey === undefined ? [] : [segmentKey]
    })
  }

  const environmentFor = (request: FastifyRequest, action: Action): EnvironmentRef => {
    const { projectKey, environmentKey } = request.params as EnvParams
    if (!request.principal) throw new Error('segments hook did not run')
    requireAction(request.principal, action, projectKey, environmentKey)
    const env = ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`)
    if (!env) throw new NotFoundError(`unknown environment ${projectKey}/${environmentKey}`)
    return env
  }

  const segmentNotFound = (env: EnvironmentRef, segmentKey: string): NotFoundError =>
    new NotFoundError(`no segment ${JSON.stringify(segmentKey)} in ${env.projectKey}/${env.environmentKey}`)

  app.get<{ Params: EnvParams; Querystring: { limit: number; offset: number } }>(
    '/:projectKey/:environmentKey',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: LIST_MAX_LIMIT, default: LIST_MAX_LIMIT },
            offset: { type: 'integer', minimum: 0, default: 0 }
          }
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'totalCount'],
            properties: { items: { type: 'array', items: segmentSchema }, totalCount: { type: 'integer' } }
          }
        }
      }
    },
    async (request) => {
      const env = environmentFor(request, 'viewProject')
      const limit = pagingNumber(request.query.limit, 'limit')
      const offset = pagingNumber(request.query.offset, 'offset')
      return ctx.store.listSegments(env, { limit, offset })
    }
  )

  app.get<{ Params: SegmentParams }>(
    '/:projectKey/:environmentKey/:segmentKey',
    { schema: { response: { 200: segmentSchema } } },
    async (request) => {
      const env = environmentFor(request, 'viewProject')
      const segment = await ctx.store.getSegment(env, request.params.segmentKey)
      if (!segment) throw segmentNotFound(env, request.params.segmentKey)
      return segment
    }
  )

  app.get<{ Params: SegmentParams & { contextKey: string } }>(
    '/:projectKey/:environmentKey/:segmentKey/contexts/:contextKey',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['contextKey', 'included'],
            properties: { contextKey: { type: 'string' }, included: { type: 'boolean' } }
          }
        }
      }
    },
    async (request) => {
      const env = environmentFor(request, 'viewProject')
      const { segmentKey, contextKey } = request.params
      if (!(await ctx.store.getSegment(env, segmentKey))) throw segmentNotFound(env, segmentKey)
      return { contextKey, included: await ctx.store.isIncluded(env, segmentKey, contextKey) }
    }
  )

  app.get<{ Params: SegmentParams; Querystring: { limit: number; after?: string } }>(
    '/:projectKey/:environmentKey/:segmentKey/members',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MEMBERS_MAX_LIMIT, default: MEMBERS_DEFAULT_LIMIT },
            after: { type: 'string' }
          }
        }
      }
    },
    async (request, reply) => {
      const env = environmentFor(request, 'viewProject')
      const { segmentKey } = request.params
      const segment = await ctx.store.getSegment(env, segmentKey)
      if (!segment) throw segmentNotFound(env, segmentKey)
      const limit = pagingNumber(request.query.limit, 'limit')
      const after = request.query.after
      const members = ctx.store.members(env, segmentKey, { after, limit: limit + 1 })
      return reply.type(JSON_TYPE).send(Readable.from(membersPageJson(segment.includedCount, members, limit)))
    }
  )

  app.delete<{ Params: SegmentParams }>('/:projectKey/:environmentKey/:segmentKey', async (request, reply) => {
    const env = environmentFor(request, 'deleteSegment')
    if (!(await deleteRecorded(ctx, request, env, request.params.segmentKey))) throw segmentNotFound(env, request.params.segmentKey)
    return reply.code(204).send()
  })
}

export default segmentsRoutes
