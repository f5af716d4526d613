/**
 * The read and maintenance API of §B5 under `/api/v2/segments`, in LaunchDarkly's REST shapes (§B7):
 * segments as `UserSegment`, lists as `{ items, totalCount, _links }` with LaunchDarkly's `limit`,
 * `offset`, `sort` and `filter`. Reads need `viewProject`, delete needs `deleteSegment`, each for
 * the environment in the path. The scope is checked before the environment is looked up, so a
 * token learns nothing about environments it may not see. Membership and target edits are in
 * `contexts.ts`, registered here so that they share the token hook.
 *
 * Members are streamed: `{"totalCount": n, "items": ["key", …], "next": "<cursor>" | null}`, where
 * `next` is the last key of the page when more follow — pass it back as `after`.
 */
import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import { BadRequestError } from '../../errors'
import { pageLinks, parseFilter, parseSort } from '../list-query'
import { segmentPath, segmentRep } from '../segment-rep'
import { beginSegmentWriteRecord, deleteRecorded } from '../history'
import { authorize, JSON_TYPE, type ReceiverContext } from './context'
import contextsRoutes from './contexts'
import { environmentFor, segmentNotFound } from './segment-scope'

/** LaunchDarkly's maximum and default page size for segment lists. */
export const LIST_MAX_LIMIT = 50
export const LIST_DEFAULT_LIMIT = 20
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

const linkSchema = {
  type: 'object',
  required: ['href', 'type'],
  properties: { href: { type: 'string' }, type: { type: 'string' } }
} as const
const linksSchema = { type: 'object', additionalProperties: linkSchema } as const
const emptyList = { type: 'array', maxItems: 0, items: {} } as const

/** LaunchDarkly's `UserSegment` as it applies to a big segment (see segment-rep.ts). */
const segmentSchema = {
  type: 'object',
  required: [
    'key',
    'name',
    'tags',
    'creationDate',
    'lastModifiedDate',
    'version',
    'deleted',
    '_links',
    'rules',
    'included',
    'excluded',
    'unbounded',
    'unboundedContextKind',
    'generation',
    '_unboundedMetadata',
    '_external',
    '_importInProgress',
    'includedCount',
    'excludedCount'
  ],
  properties: {
    key: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    creationDate: { type: 'number' },
    lastModifiedDate: { type: 'number' },
    version: { type: 'integer' },
    deleted: { type: 'boolean' },
    _links: linksSchema,
    rules: emptyList,
    included: emptyList,
    excluded: emptyList,
    unbounded: { type: 'boolean' },
    unboundedContextKind: { type: 'string' },
    generation: { type: 'integer' },
    _unboundedMetadata: {
      type: 'object',
      required: ['version', 'includedCount', 'excludedCount', 'lastModified', 'deleted'],
      properties: {
        version: { type: 'integer' },
        includedCount: { type: 'integer' },
        excludedCount: { type: 'integer' },
        lastModified: { type: 'number' },
        deleted: { type: 'boolean' }
      }
    },
    _external: { type: 'string' },
    _externalLink: { type: 'string' },
    _importInProgress: { type: 'boolean' },
    includedCount: { type: 'integer' },
    excludedCount: { type: 'integer' },
    _lastSync: {
      type: 'object',
      required: ['time', 'status', 'added', 'removed'],
      properties: {
        time: { type: 'number' },
        status: { type: 'string' },
        added: { type: 'integer' },
        removed: { type: 'integer' }
      }
    }
  }
} as const

interface ListQuery {
  limit: number
  offset: number
  sort?: string
  filter?: string
}

/** The JSON of a members page, produced as the store yields keys (`limit + 1` asked for, to know whether more follow). */
export async function* membersPageJson(
  totalCount: number,
  members: AsyncIterable<string>,
  limit: number
): AsyncGenerator<string> {
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
  if (!Number.isSafeInteger(value))
    throw new BadRequestError(`querystring/${name} must be an integer below 2^53`)
  return value
}

const segmentsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  app.addHook('onRequest', async (request) => {
    if (request.method === 'DELETE') beginSegmentWriteRecord(ctx, request, 'delete')
    // POST here is only `…/contexts` (and the legacy `…/users`): LaunchDarkly's list-based edits.
    else if (request.method === 'POST') beginSegmentWriteRecord(ctx, request, 'contexts')
    authorize(ctx, request)
  })

  app.get<{ Params: EnvParams; Querystring: ListQuery }>(
    '/:projectKey/:environmentKey',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: LIST_MAX_LIMIT, default: LIST_DEFAULT_LIMIT },
            offset: { type: 'integer', minimum: 0, default: 0 },
            sort: { type: 'string' },
            filter: { type: 'string' }
          }
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'totalCount', '_links'],
            properties: {
              items: { type: 'array', items: segmentSchema },
              totalCount: { type: 'integer' },
              _links: linksSchema
            }
          }
        }
      }
    },
    async (request) => {
      const env = environmentFor(ctx, request, 'viewProject')
      const limit = pagingNumber(request.query.limit, 'limit')
      const offset = pagingNumber(request.query.offset, 'offset')
      const { sort, filter } = request.query
      const sorted = parseSort(sort)
      const parsed = parseFilter(filter)
      const page = parsed.matchesNothing
        ? { items: [], totalCount: 0 }
        : await ctx.store.listSegments(env, { limit, offset, sort: sorted, filter: parsed.filter })
      const importing = await ctx.store.segmentsImporting(
        env,
        page.items.map((record) => record.key)
      )
      return {
        items: page.items.map((record) => segmentRep(env, record, importing.has(record.key))),
        totalCount: page.totalCount,
        _links: pageLinks(segmentPath(env), { sort, filter }, { limit, offset, totalCount: page.totalCount })
      }
    }
  )

  app.get<{ Params: SegmentParams }>(
    '/:projectKey/:environmentKey/:segmentKey',
    { schema: { response: { 200: segmentSchema } } },
    async (request) => {
      const env = environmentFor(ctx, request, 'viewProject')
      const segment = await ctx.store.getSegment(env, request.params.segmentKey)
      if (!segment) throw segmentNotFound(env, request.params.segmentKey)
      const importing = await ctx.store.segmentsImporting(env, [segment.key])
      return segmentRep(env, segment, importing.has(segment.key))
    }
  )

  void app.register(contextsRoutes, { ctx })

  app.get<{ Params: SegmentParams; Querystring: { limit: number; after?: string } }>(
    '/:projectKey/:environmentKey/:segmentKey/members',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: MEMBERS_MAX_LIMIT,
              default: MEMBERS_DEFAULT_LIMIT
            },
            after: { type: 'string' }
          }
        }
      }
    },
    async (request, reply) => {
      const env = environmentFor(ctx, request, 'viewProject')
      const { segmentKey } = request.params
      const segment = await ctx.store.getSegment(env, segmentKey)
      if (!segment) throw segmentNotFound(env, segmentKey)
      const limit = pagingNumber(request.query.limit, 'limit')
      const after = request.query.after
      const members = ctx.store.members(env, segmentKey, { after, limit: limit + 1 })
      return reply.type(JSON_TYPE).send(Readable.from(membersPageJson(segment.includedCount, members, limit)))
    }
  )

  app.delete<{ Params: SegmentParams }>(
    '/:projectKey/:environmentKey/:segmentKey',
    async (request, reply) => {
      const env = environmentFor(ctx, request, 'deleteSegment')
      if (!(await deleteRecorded(ctx, request, env, request.params.segmentKey)))
        throw segmentNotFound(env, request.params.segmentKey)
      return reply.code(204).send()
    }
  )
}

export default segmentsRoutes
