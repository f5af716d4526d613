/**
 * A context's place in a big segment and LaunchDarkly's list-based edits of it (§B7), under
 * `/api/v2/segments/:projectKey/:environmentKey/:segmentKey`:
 *
 * - `GET …/contexts/:contextKey` (and the legacy `…/users/:userKey`) → LaunchDarkly's
 *   `BigSegmentTarget` `{ userKey, included, excluded }`, with this project's `contextKey` beside it.
 * - `POST …/contexts` (and the legacy `…/users`) with LaunchDarkly's `SegmentUserState`
 *   `{ included?: { add?, remove? }, excluded?: { add?, remove? } }` → 204, applied atomically;
 *   the token needs `updateIncluded` for `included` and `updateExcluded` for `excluded`.
 *
 * Registered by the segments plugin, whose hook has checked the token.
 */
import type { FastifyPluginAsync } from 'fastify'
import { BadRequestError } from '../../errors'
import type { TargetListUpdate, TargetsUpdate } from '../../store/types'
import { requireAction } from '../auth'
import { noteSync, syncRecordDraft } from '../history'
import type { Action } from '../config'
import { MAX_MEMBER_ID_LENGTH } from '../parse'
import type { ReceiverContext } from './context'
import { environmentFor, segmentNotFound } from './segment-scope'

interface SegmentParams {
  projectKey: string
  environmentKey: string
  segmentKey: string
}

const keyList = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: MAX_MEMBER_ID_LENGTH }
} as const
// propertyNames, not additionalProperties: Fastify's validator would silently drop unknown fields,
// and a misspelt `include` must be a 400, not an edit that does nothing.
const targetList = {
  type: 'object',
  propertyNames: { enum: ['add', 'remove'] },
  properties: { add: keyList, remove: keyList }
} as const
const targetsBody = {
  type: 'object',
  propertyNames: { enum: ['included', 'excluded'] },
  properties: { included: targetList, excluded: targetList }
} as const

const membershipResponse = {
  type: 'object',
  required: ['userKey', 'included', 'excluded', 'contextKey'],
  properties: {
    userKey: { type: 'string' },
    included: { type: 'boolean' },
    excluded: { type: 'boolean' },
    contextKey: { type: 'string' }
  }
} as const

/** A key both added and removed in one list has no defined outcome in LaunchDarkly's API: refused. */
function checkList(name: string, list: TargetListUpdate | undefined): void {
  if (!list?.add?.length || !list.remove?.length) return
  const added = new Set(list.add)
  const both = list.remove.find((key) => added.has(key))
  if (both !== undefined)
    throw new BadRequestError(`${name}: ${JSON.stringify(both.slice(0, 100))} is both added and removed`)
}

/** The actions a body needs: one per list it edits (`updateIncluded` when it names neither). */
function requiredActions(body: TargetsUpdate): Action[] {
  const actions: Action[] = []
  if (body.included !== undefined) actions.push('updateIncluded')
  if (body.excluded !== undefined) actions.push('updateExcluded')
  return actions.length > 0 ? actions : ['updateIncluded']
}

const contextsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  for (const [collection, param] of [
    ['contexts', 'contextKey'],
    ['users', 'userKey']
  ] as const) {
    app.get<{ Params: SegmentParams & Record<typeof param, string> }>(
      `/:projectKey/:environmentKey/:segmentKey/${collection}/:${param}`,
      { schema: { response: { 200: membershipResponse } } },
      async (request) => {
        const env = environmentFor(ctx, request, 'viewProject')
        const { segmentKey } = request.params
        const contextKey = request.params[param]
        if (!(await ctx.store.getSegment(env, segmentKey))) throw segmentNotFound(env, segmentKey)
        const { included, excluded } = await ctx.store.membership(env, segmentKey, contextKey)
        return { userKey: contextKey, included, excluded, contextKey }
      }
    )

    app.post<{ Params: SegmentParams; Body: TargetsUpdate | undefined }>(
      `/:projectKey/:environmentKey/:segmentKey/${collection}`,
      { schema: { body: targetsBody } },
      async (request, reply) => {
        const body = request.body
        if (body === undefined) throw new BadRequestError('request body is empty')
        const [first, ...more] = requiredActions(body)
        const env = environmentFor(ctx, request, first)
        for (const action of more)
          requireAction(request.principal!, action, env.projectKey, env.environmentKey)
        checkList('included', body.included)
        checkList('excluded', body.excluded)
        const listed = (list: TargetListUpdate | undefined) =>
          (list?.add?.length ?? 0) + (list?.remove?.length ?? 0)
        noteSync(request, { members: listed(body.included) + listed(body.excluded) })
        const record = syncRecordDraft(request, 204)
        const updated = await ctx.store.updateTargets(env, request.params.segmentKey, body, { record })
        if (!updated) throw segmentNotFound(env, request.params.segmentKey)
        // The included list's counts, as the record has them, for the members-changed metric.
        if (record && request.syncRecord && updated._lastSync) {
          const { added, removed } = updated._lastSync
          const unchanged = listed(body.included) - added - removed
          request.syncRecord.counts = [{ segmentKey: updated.key, added, removed, unchanged }]
        }
        return reply.code(204).send()
      }
    )
  }
}

export default contextsRoutes
