/**
 * `POST /api/v2/segment-targets/:integrationKey` (§B3), and the singular `/segment-target/` path of
 * LaunchDarkly's validation server. The checks that need no body run in `onRequest`, before a byte
 * of the body is read: token (403) → integration (404) → rate limit (429) → content type (415) →
 * declared size (413). The handler then goes on: parse (400) → environment (400) → write scope
 * (403) → apply (409 / 403) → 204, or 200 with the integration's jsonResponseBody.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { BadRequestError, HttpError, NotFoundError } from '../../errors'
import type { SegmentChange } from '../../store/types'
import { can, requireAction } from '../auth'
import { parseRequest } from '../parse'
import { renderResponseBody } from '../response-body'
import { segmentKeyFor } from '../segment-key'
import { consoleSegmentPath } from '../links'
import { applyRecorded, beginSyncRecord, noteSync } from '../history'
import { JSON_TYPE, type ReceiverContext, type SyncState } from './context'

interface SyncRoute {
  Params: { integrationKey: string }
}

/** `application/json`, with any parameters, as long as a charset, if given, is UTF-8. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false
  const [mediaType, ...parameters] = header.split(';')
  if (mediaType.trim().toLowerCase() !== 'application/json') return false
  return parameters.every((parameter) => {
    const [name, value = ''] = parameter.split('=')
    return name.trim().toLowerCase() !== 'charset' || /^"?utf-?8"?$/i.test(value.trim())
  })
}

function quoted(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value)
}

/**
 * The integration's jsonResponseBody for this request, or undefined when it has none. Throws the
 * renderer's 500 when the template does not produce valid JSON.
 */
export function renderSyncResponse(
  request: FastifyRequest,
  statusCode: number,
  errorMessage: string,
  publicUrl: string | undefined
): string | undefined {
  const integration = request.integration
  if (!integration) return undefined
  const sync: SyncState = request.sync ?? { projectKey: '', environmentKey: '', segmentKey: '' }
  const origin = publicUrl ?? `${request.protocol}://${request.host}`
  const segmentUrl =
    sync.segmentKey === '' || sync.projectKey === ''
      ? ''
      : `${origin}${consoleSegmentPath(sync.projectKey, sync.environmentKey, sync.segmentKey)}`
  return renderResponseBody(integration, {
    requestBody: request.body,
    statusCode,
    errorMessage,
    projectKey: sync.projectKey,
    environmentKey: sync.environmentKey,
    segmentKey: sync.segmentKey,
    segmentUrl
  })
}

const segmentTargetsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  const bodyLimit = ctx.config.bodyLimitBytes

  const checkBeforeBody: onRequestHookHandler = (request, _reply, done) => {
    const { integrationKey } = request.params as SyncRoute['Params']
    // Resolved before the token check so that even a 403 is rendered with the partner's template.
    request.integration = ctx.integrations.get(integrationKey.toLowerCase()) ?? null
    try {
      const principal = ctx.authority.authenticate(request.headers.authorization)
      request.principal = principal
      beginSyncRecord(request, principal, 'segment-targets', request.integration?.key ?? integrationKey.toLowerCase())
      if (!request.integration) throw new NotFoundError(`unknown integration ${quoted(integrationKey)}`, 'unknown_integration')
      ctx.rateLimiter?.hit(principal.name)
      if (!isJsonContentType(request.headers['content-type'])) {
        throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json')
      }
      const declared = Number(request.headers['content-length'])
      if (declared > bodyLimit) {
        throw new HttpError(413, 'request_too_large', `request body exceeds the limit of ${bodyLimit} bytes`)
      }
      done()
    } catch (error) {
      done(error as Error)
    }
  }

  const handle = async (request: FastifyRequest<SyncRoute>, reply: FastifyReply): Promise<FastifyReply> => {
    const integration = request.integration
    const principal = request.principal
    if (!integration || !principal) throw new Error('segment-targets hook did not run')
    const sync: SyncState = { projectKey: '', environmentKey: '', segmentKey: '' }
    request.sync = sync
    if (request.body === undefined) throw new BadRequestError('request body is empty')

    const parsed = parseRequest(integration, request.body)
    // parseRequest always yields at least one cohort (the request-level cohort ID and name are required).
    sync.segmentKey = segmentKeyFor(integration.key, parsed.cohorts[0].cohortId)
    let members = 0
    for (const cohort of parsed.cohorts) members += cohort.ops.length
    noteSync(request, { segmentKeys: parsed.cohorts.map((cohort) => segmentKeyFor(integration.key, cohort.cohortId)), members })

    const env = ctx.environmentsByClientSideId.get(parsed.environmentId)
    if (!env) {
      throw new BadRequestError(`unknown environment: no environment has the client-side ID ${quoted(parsed.environmentId)}`, 'unknown_environment')
    }
    sync.projectKey = env.projectKey
    sync.environmentKey = env.environmentKey
    noteSync(request, { env })
    requireAction(principal, 'updateIncluded', env.projectKey, env.environmentKey)

    // Rendered before applying: a broken template must not turn an applied change into a 500.
    const responseBody = renderSyncResponse(request, 200, '', ctx.config.publicUrl)

    const changes: SegmentChange[] = parsed.cohorts.map((cohort) => ({
      segmentKey: segmentKeyFor(integration.key, cohort.cohortId),
      name: cohort.cohortName,
      contextKind: parsed.contextKind,
      integrationKey: integration.key,
      externalLink: cohort.cohortUrl,
      ops: cohort.ops
    }))
    const allowCreate = can(principal, 'createSegment', env.projectKey, env.environmentKey)
    await applyRecorded(ctx, request, env, changes, { allowCreate }, responseBody === undefined ? 204 : 200)
    if (responseBody === undefined) return reply.code(204).send()
    return reply.code(200).type(JSON_TYPE).send(responseBody)
  }

  for (const url of ['/api/v2/segment-targets/:integrationKey', '/api/v2/segment-target/:integrationKey']) {
    app.post<SyncRoute>(url, { onRequest: checkBeforeBody }, handle)
  }
}

export default segmentTargetsRoutes
