/**
 * The web console (§G): server-rendered pages under `/console/`, read through the same store and
 * token authority as the REST API. A person signs in with an access token; the session is a signed
 * cookie (see session.ts). Every page works without JavaScript; htmx and uPlot, served from the
 * package, only enhance them. Each page is one route, one view model and one template.
 */
import { resolve } from 'node:path'
import fastifyCookie from '@fastify/cookie'
import fastifyHelmet from '@fastify/helmet'
import fastifyStatic from '@fastify/static'
import fastifyView from '@fastify/view'
import { Eta } from 'eta'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, HttpError, NotFoundError } from '../errors'
import { can, RateLimiter, TooManyRequestsError, type Principal } from '../receiver/auth'
import type { Action } from '../receiver/config'
import { beginSyncRecord, deleteRecorded, noteSync, noteSyncError } from '../receiver/history'
import { CONSOLE_PREFIX, consoleSegmentPath } from '../receiver/links'
import type { ReceiverContext } from '../receiver/routes/context'
import type { EnvironmentRef, SegmentRecord } from '../store/types'
import {
  describeIntegrations,
  ICON_TYPES,
  skippedIntegrations,
  type ConsoleIntegration
} from './integrations'
import {
  csrfToken,
  decodeSession,
  encodeSession,
  newSession,
  safeNext,
  sameOrigin,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionKey,
  tokenFingerprint,
  validCsrfToken,
  type Session
} from './session'
import * as vm from './view-models'

/** src/console and dist/console both find the templates and assets in src/console (shipped in the package). */
export const CONSOLE_DIR = resolve(__dirname, '../../src/console')

/** Every file under `/console/assets/`: our own and the pinned libraries, from the package. */
const ASSETS: Record<string, { file: string; type: string }> = {
  'console.css': { file: resolve(CONSOLE_DIR, 'assets/console.css'), type: 'text/css; charset=utf-8' },
  'favicon.svg': { file: resolve(CONSOLE_DIR, 'assets/favicon.svg'), type: 'image/svg+xml' },
  'console.js': { file: resolve(CONSOLE_DIR, 'assets/console.js'), type: 'text/javascript; charset=utf-8' },
  'htmx.min.js': {
    file: require.resolve('htmx.org/dist/htmx.min.js'),
    type: 'text/javascript; charset=utf-8'
  },
  'uPlot.min.js': {
    file: require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8'
  },
  'uPlot.min.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' }
}

/** A sign-in form is a token and a path: nothing bigger is read. */
const FORM_BODY_LIMIT = 16 * 1024
/** Records of a segment's history shown (and charted) on its page. */
const SEGMENT_HISTORY = 50
const FAILURES_PAGE_SIZE = 50
const SIGN_IN_RATE_LIMIT = { max: 30, windowMs: 60_000 }

interface EnvParams {
  projectKey: string
  environmentKey: string
}
interface SegmentParams extends EnvParams {
  segmentKey: string
}

interface ConsoleState {
  session: Session
  principal: Principal
}

declare module 'fastify' {
  interface FastifyRequest {
    console: ConsoleState | null
  }
}

function formValue(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | undefined)?.[name]
  return typeof value === 'string' ? value : undefined
}

const consolePlugin: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  const key = sessionKey(ctx.config.tokens)
  const principals = new Map<string, Principal>()
  for (const { token } of ctx.config.tokens) {
    const principal = ctx.authority.lookup(token)
    if (principal) principals.set(tokenFingerprint(key, token), principal)
  }
  /** Sessions signed out before their expiry, until then (this process only). */
  const ended = new Map<string, number>()
  /** Sign-in attempts per client address, so tokens cannot be guessed at speed. */
  const signInLimiter = new RateLimiter(SIGN_IN_RATE_LIMIT)
  const integrations = describeIntegrations(ctx.integrations)
  const environments = [...ctx.environmentsByPath.values()]

  await app.register(fastifyCookie, { secret: key })
  await app.register(fastifyStatic, { root: CONSOLE_DIR, serve: false })
  await app.register(fastifyView, {
    engine: {
      eta: new Eta({ autoEscape: true, autoTrim: false, cache: true, views: resolve(CONSOLE_DIR, 'views') })
    },
    root: resolve(CONSOLE_DIR, 'views'),
    production: true
  })
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"]
      }
    },
    // Same-origin pages only; no cross-origin isolation headers that would get in the way of nothing.
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'same-origin' }
  })

  app.decorateRequest('console', null)
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    }
  )

  // Behind a TLS-terminating proxy the request itself is http. Trusting X-Forwarded-Proto here is
  // safe: a forged one can only make the cookie stricter.
  const secureCookie = (request: FastifyRequest) =>
    request.protocol === 'https' ||
    request.headers['x-forwarded-proto'] === 'https' ||
    (ctx.config.publicUrl ?? '').startsWith('https:')

  const sessionOf = (request: FastifyRequest): ConsoleState | null => {
    const raw = request.cookies[SESSION_COOKIE]
    if (raw === undefined) return null
    const unsigned = request.unsignCookie(raw)
    if (!unsigned.valid || unsigned.value === null) return null
    const now = Date.now()
    const session = decodeSession(unsigned.value, now)
    if (!session || ended.has(session.id)) return null
    const principal = principals.get(session.fingerprint)
    return principal ? { session, principal } : null
  }

  const layout = (
    request: FastifyRequest,
    title: string,
    crumbs: vm.LayoutModel['crumbs']
  ): vm.LayoutModel => ({
    title,
    crumbs,
    prefix: CONSOLE_PREFIX,
    signedInAs: request.console?.principal.name,
    csrf: request.console ? csrfToken(key, request.console.session) : undefined
  })

  /** State changes: the browser must say the request comes from this site, and (signed in) carry the session's CSRF token. */
  const checkPost = (request: FastifyRequest): void => {
    if (!sameOrigin(request.headers, ctx.config.publicUrl))
      throw new ForbiddenError('this form was not sent from the console', 'cross_origin')
    if (request.console && !validCsrfToken(key, request.console.session, formValue(request.body, '_csrf'))) {
      throw new ForbiddenError('the form is out of date: reload the page and try again', 'csrf')
    }
  }

  const visibleEnvironments = (principal: Principal) =>
    environments.filter((env) => can(principal, 'viewProject', env.projectKey, env.environmentKey))

  const environmentFor = (request: FastifyRequest, action: Action = 'viewProject'): EnvironmentRef => {
    const { projectKey, environmentKey } = request.params as EnvParams
    const env = ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`)
    const principal = request.console?.principal
    // An environment the token may not see is as unknown as one that does not exist.
    if (!env || !principal || !can(principal, 'viewProject', projectKey, environmentKey)) {
      throw new NotFoundError(`no environment ${projectKey}/${environmentKey}`)
    }
    if (!can(principal, action, projectKey, environmentKey)) {
      throw new ForbiddenError(`the access token may not ${action} in ${projectKey}/${environmentKey}`)
    }
    return env
  }

  const segmentFor = async (env: EnvironmentRef, segmentKey: string): Promise<SegmentRecord> => {
    const segment = await ctx.store.getSegment(env, segmentKey)
    if (!segment)
      throw new NotFoundError(`no segment ${segmentKey} in ${env.projectKey}/${env.environmentKey}`)
    return segment
  }

  const allSegments = async (env: EnvironmentRef): Promise<SegmentRecord[]> => {
    const all: SegmentRecord[] = []
    for (;;) {
      const page = await ctx.store.listSegments(env, { limit: 500, offset: all.length })
      all.push(...page.items)
      if (page.items.length === 0 || all.length >= page.totalCount) return all
    }
  }

  const envPath = (env: EnvironmentRef) =>
    `${CONSOLE_PREFIX}/${encodeURIComponent(env.projectKey)}/${encodeURIComponent(env.environmentKey)}`
  const envCrumbs = (env: EnvironmentRef) => [
    { label: 'Environments', href: `${CONSOLE_PREFIX}/` },
    { label: `${env.projectKey} / ${env.environmentKey}`, href: `${envPath(env)}/segments` }
  ]
  const integrationOf = (key: string): ConsoleIntegration | undefined => integrations.get(key)

  const segmentRow = (env: EnvironmentRef, segment: SegmentRecord) => ({
    key: segment.key,
    name: segment.name,
    kind: segment.unboundedContextKind,
    href: consoleSegmentPath(env.projectKey, env.environmentKey, segment.key),
    integration: segment._external,
    integrationName: integrationOf(segment._external)?.name ?? segment._external,
    icon: integrationOf(segment._external)?.iconFile
      ? `${CONSOLE_PREFIX}/integrations/${encodeURIComponent(segment._external)}/icon`
      : undefined,
    included: vm.formatCount(segment.includedCount),
    excluded: vm.formatCount(segment.excludedCount),
    lastSync: segment._lastSync
      ? {
          time: vm.formatTime(segment._lastSync.time),
          status: segment._lastSync.status,
          added: segment._lastSync.added,
          removed: segment._lastSync.removed
        }
      : undefined
  })

  const render = (reply: FastifyReply, page: string, model: object, status = 200) =>
    reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').view(page, model)

  app.setErrorHandler((error, request, reply) => {
    const known = error instanceof HttpError ? error : undefined
    if (known) noteSyncError(request, known)
    if (known instanceof TooManyRequestsError) reply.header('retry-after', String(known.retryAfterSeconds))
    const status = known?.statusCode ?? (error as { statusCode?: number }).statusCode ?? 500
    if (status >= 500) request.log.error({ err: error, url: request.routeOptions.url }, 'console error')
    const message =
      status >= 500
        ? 'Something went wrong on the receiver; the details are in its log.'
        : (known?.message ?? 'The request could not be read.')
    return render(
      reply,
      'error',
      {
        ...layout(request, `Error ${status}`, [{ label: 'Environments', href: `${CONSOLE_PREFIX}/` }]),
        status,
        message
      },
      status
    )
  })

  app.setNotFoundHandler((request, reply) =>
    render(
      reply,
      'error',
      {
        ...layout(request, 'Not found', [{ label: 'Environments', href: `${CONSOLE_PREFIX}/` }]),
        status: 404,
        message: 'There is no such page.'
      },
      404
    )
  )

  // ——— Assets (no session needed) ———

  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const asset = Object.hasOwn(ASSETS, request.params.name) ? ASSETS[request.params.name] : undefined
    if (!asset) throw new NotFoundError('no such asset')
    return reply.header('cache-control', 'public, max-age=3600').type(asset.type).sendFile(asset.file, '/')
  })

  app.get<{ Params: { integrationKey: string } }>(
    '/integrations/:integrationKey/icon',
    async (request, reply) => {
      const file = integrationOf(request.params.integrationKey.toLowerCase())?.iconFile
      if (!file) throw new NotFoundError('no icon for this integration')
      const type = ICON_TYPES[file.slice(file.lastIndexOf('.')).toLowerCase()]
      // A partner's SVG opened on its own must not run script in the console's origin.
      return reply
        .header('cache-control', 'public, max-age=3600')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        .type(type)
        .sendFile(file, '/')
    }
  )

  // ——— Session ———

  app.addHook('preHandler', async (request, reply) => {
    const url = request.routeOptions.url ?? ''
    if (url.startsWith(`${CONSOLE_PREFIX}/assets/`) || url.endsWith('/icon')) return
    request.console = sessionOf(request)
    if (request.console || url === `${CONSOLE_PREFIX}/sign-in`) return
    if (request.method === 'GET' || request.method === 'HEAD') {
      return reply.redirect(`${CONSOLE_PREFIX}/sign-in${vm.queryString({ next: request.url })}`, 303)
    }
    throw new ForbiddenError('you are not signed in (or your session has ended)', 'unauthorized')
  })

  app.get<{ Querystring: { next?: string } }>('/sign-in', async (request, reply) => {
    if (request.console) return reply.redirect(safeNext(request.query.next, CONSOLE_PREFIX), 303)
    return render(reply, 'sign-in', {
      ...layout(request, 'Sign in', []),
      next: safeNext(request.query.next, CONSOLE_PREFIX)
    })
  })

  app.post('/sign-in', async (request, reply) => {
    checkPost(request)
    signInLimiter.hit(request.ip)
    const token = formValue(request.body, 'token') ?? ''
    const next = safeNext(formValue(request.body, 'next'), CONSOLE_PREFIX)
    const principal = token === '' ? undefined : ctx.authority.lookup(token)
    const problem =
      principal === undefined
        ? 'That access token is not valid.'
        : visibleEnvironments(principal).length === 0
          ? 'That access token may not view any environment (it needs the viewProject action).'
          : undefined
    if (principal === undefined || problem !== undefined) {
      return render(reply, 'sign-in', { ...layout(request, 'Sign in', []), next, problem }, 401)
    }
    const session = newSession(tokenFingerprint(key, token), Date.now())
    reply.setCookie(SESSION_COOKIE, encodeSession(session), {
      signed: true,
      httpOnly: true,
      sameSite: 'strict',
      secure: secureCookie(request),
      path: CONSOLE_PREFIX,
      maxAge: SESSION_TTL_MS / 1000
    })
    return reply.redirect(next, 303)
  })

  app.post('/sign-out', async (request, reply) => {
    checkPost(request)
    const state = request.console
    if (state) {
      const now = Date.now()
      for (const [id, expiresAt] of ended) if (expiresAt <= now) ended.delete(id)
      ended.set(state.session.id, state.session.expiresAt)
    }
    reply.clearCookie(SESSION_COOKIE, {
      path: CONSOLE_PREFIX,
      httpOnly: true,
      sameSite: 'strict',
      secure: secureCookie(request)
    })
    return reply.redirect(`${CONSOLE_PREFIX}/sign-in`, 303)
  })

  // ——— Pages ———

  app.get('/', async (request, reply) => {
    const principal = request.console!.principal
    const rows = await Promise.all(
      visibleEnvironments(principal).map(async (env) => ({
        projectKey: env.projectKey,
        environmentKey: env.environmentKey,
        segments: vm.formatCount((await ctx.store.listSegments(env, { limit: 1, offset: 0 })).totalCount),
        segmentsHref: `${envPath(env)}/segments`,
        failuresHref: `${envPath(env)}/failures`
      }))
    )
    return render(reply, 'environments', {
      ...layout(request, 'Environments', [{ label: 'Environments' }]),
      environments: rows
    })
  })

  app.get('/integrations', async (request, reply) => {
    const loaded = [...integrations.values()].map((i) => ({
      ...i,
      icon: i.iconFile ? `${CONSOLE_PREFIX}/integrations/${encodeURIComponent(i.key)}/icon` : undefined
    }))
    return render(reply, 'integrations', {
      ...layout(request, 'Integrations', [
        { label: 'Environments', href: `${CONSOLE_PREFIX}/` },
        { label: 'Integrations' }
      ]),
      loaded,
      skipped: skippedIntegrations(ctx.integrations)
    })
  })

  app.get<{ Params: EnvParams; Querystring: Record<string, unknown> }>(
    '/:projectKey/:environmentKey/segments',
    async (request, reply) => {
      const env = environmentFor(request)
      const query = vm.parseSegmentQuery(request.query)
      const all = await allSegments(env)
      const selected = vm.selectSegments(all, query)
      const base = `${envPath(env)}/segments`
      const params = {
        q: query.q,
        integration: query.integration,
        sort: query.sort === 'name' ? undefined : query.sort
      }
      const used = [...new Set(all.map((s) => s._external))].sort()
      return render(reply, 'segments', {
        ...layout(request, `Segments of ${env.projectKey} / ${env.environmentKey}`, [
          ...envCrumbs(env).slice(0, 1),
          { label: `${env.projectKey} / ${env.environmentKey}` }
        ]),
        env,
        base,
        failuresHref: `${envPath(env)}/failures`,
        query,
        sorts: vm.SEGMENT_SORTS,
        integrations: used.map((k) => ({ key: k, name: integrationOf(k)?.name ?? k })),
        rows: selected.items.map((s) => segmentRow(env, s)),
        totalCount: selected.totalCount,
        page: selected.page,
        pageCount: selected.pageCount,
        links: vm.pageLinks(base, params, selected.page, selected.pageCount),
        deleted: typeof request.query.deleted === 'string' ? request.query.deleted : undefined
      })
    }
  )

  app.get<{ Params: SegmentParams; Querystring: { contextKey?: string } }>(
    '/:projectKey/:environmentKey/segments/:segmentKey',
    async (request, reply) => {
      const env = environmentFor(request)
      const segment = await segmentFor(env, request.params.segmentKey)
      const path = consoleSegmentPath(env.projectKey, env.environmentKey, segment.key)
      const lookupKey =
        typeof request.query.contextKey === 'string' && request.query.contextKey !== ''
          ? request.query.contextKey.slice(0, 1024)
          : undefined
      const [members, excluded, lookupMembership, history] = await Promise.all([
        membersPage(env, segment.key, undefined, vm.SEGMENT_PAGE_MEMBERS),
        membersPage(env, segment.key, undefined, vm.SEGMENT_PAGE_MEMBERS, true),
        lookupKey === undefined ? undefined : ctx.store.membership(env, segment.key, lookupKey),
        ctx.store.listSyncHistory(env, { segmentKey: segment.key, limit: SEGMENT_HISTORY })
      ])
      const syncs = history.items.map((record) => {
        const counts = record.segments.find((s) => s.segmentKey === segment.key)
        return {
          record,
          added: counts?.added ?? 0,
          removed: counts?.removed ?? 0,
          unchanged: counts?.unchanged ?? 0
        }
      })
      const successes = syncs
        .filter((s) => s.record.status === 'success')
        .map((s) => ({ time: s.record.time, added: s.added, removed: s.removed }))
      const integration = integrationOf(segment._external)
      return render(reply, 'segment', {
        ...layout(request, segment.name, [...envCrumbs(env), { label: segment.name }]),
        env,
        segment: {
          ...segmentRow(env, segment),
          generation: segment.generation,
          created: vm.formatTime(segment.creationDate),
          modified: vm.formatTime(segment.lastModifiedDate),
          externalLink: segment._externalLink,
          externalHref: vm.safeExternalLink(segment._externalLink),
          integrationHref: integration
            ? `${CONSOLE_PREFIX}/integrations#integration-${integration.key}`
            : undefined
        },
        path,
        lookup:
          lookupKey === undefined
            ? undefined
            : {
                contextKey: lookupKey,
                included: lookupMembership?.included === true,
                excluded: lookupMembership?.excluded === true
              },
        members: members.keys,
        membersHref: `${path}/members`,
        moreMembers: members.next !== undefined,
        excluded: excluded.keys,
        moreExcluded: excluded.next !== undefined,
        history: syncs.map((s) => historyRow(s.record, s)),
        chart: JSON.stringify(vm.chartData(vm.sizeSeries(segment.includedCount, successes))),
        canDelete: can(request.console!.principal, 'deleteSegment', env.projectKey, env.environmentKey)
      })
    }
  )

  async function membersPage(
    env: EnvironmentRef,
    segmentKey: string,
    after: string | undefined,
    limit: number,
    excluded = false
  ): Promise<{ keys: string[]; next?: string }> {
    const keys: string[] = []
    for await (const member of ctx.store.members(env, segmentKey, { after, limit: limit + 1, excluded }))
      keys.push(member)
    return keys.length > limit ? { keys: keys.slice(0, limit), next: keys[limit - 1] } : { keys }
  }

  function historyRow(
    record: import('../store/types').SyncRecord,
    counts?: { added: number; removed: number; unchanged: number }
  ) {
    return {
      time: vm.formatTime(record.time),
      operation: record.operation,
      integration: record.integration,
      tokenName: record.tokenName,
      status: record.status,
      statusCode: record.statusCode,
      members: record.members,
      segments: record.segments.map((s) => ({
        key: s.segmentKey,
        href: consoleSegmentPath(record.projectKey, record.environmentKey, s.segmentKey),
        added: s.added,
        removed: s.removed,
        unchanged: s.unchanged
      })),
      added: counts?.added,
      removed: counts?.removed,
      unchanged: counts?.unchanged,
      error: record.error,
      durationMs: Math.round(record.durationMs),
      requestId: record.requestId
    }
  }

  app.get<{ Params: SegmentParams; Querystring: { after?: string } }>(
    '/:projectKey/:environmentKey/segments/:segmentKey/members',
    async (request, reply) => {
      const env = environmentFor(request)
      const segment = await segmentFor(env, request.params.segmentKey)
      const path = consoleSegmentPath(env.projectKey, env.environmentKey, segment.key)
      const after =
        typeof request.query.after === 'string' && request.query.after !== ''
          ? request.query.after
          : undefined
      const page = await membersPage(env, segment.key, after, vm.MEMBERS_PAGE_SIZE)
      return render(reply, 'members', {
        ...layout(request, `Members of ${segment.name}`, [
          ...envCrumbs(env),
          { label: segment.name, href: path },
          { label: 'Members' }
        ]),
        segment: segmentRow(env, segment),
        path,
        members: page.keys,
        firstHref: after === undefined ? undefined : `${path}/members`,
        nextHref:
          page.next === undefined ? undefined : `${path}/members${vm.queryString({ after: page.next })}`
      })
    }
  )

  app.post<{ Params: SegmentParams }>(
    '/:projectKey/:environmentKey/segments/:segmentKey/delete',
    async (request, reply) => {
      checkPost(request)
      // Recorded in the sync history like the REST API's delete, refusals included.
      beginSyncRecord(request, request.console!.principal, 'delete', '')
      const segmentKey = request.params.segmentKey
      const { projectKey, environmentKey } = request.params
      const known = ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`)
      if (known) noteSync(request, { env: known, segmentKeys: [segmentKey] })
      const env = environmentFor(request, 'deleteSegment')
      if (formValue(request.body, 'confirm') !== segmentKey) {
        throw new HttpError(400, 'invalid_request', 'Tick the confirmation box to delete the segment.')
      }
      if (!(await deleteRecorded(ctx, request, env, segmentKey))) await segmentFor(env, segmentKey)
      return reply.redirect(`${envPath(env)}/segments${vm.queryString({ deleted: segmentKey })}`, 303)
    }
  )

  app.get<{ Params: EnvParams; Querystring: { after?: string } }>(
    '/:projectKey/:environmentKey/failures',
    async (request, reply) => {
      const env = environmentFor(request)
      const after =
        typeof request.query.after === 'string' && request.query.after !== ''
          ? request.query.after
          : undefined
      const page = await ctx.store.listSyncHistory(env, { status: 'error', limit: FAILURES_PAGE_SIZE, after })
      const base = `${envPath(env)}/failures`
      return render(reply, 'failures', {
        ...layout(request, `Sync failures of ${env.projectKey} / ${env.environmentKey}`, [
          ...envCrumbs(env),
          { label: 'Sync failures' }
        ]),
        env,
        failures: page.items.map((record) => historyRow(record)),
        firstHref: after === undefined ? undefined : base,
        nextHref: page.next === null ? undefined : `${base}${vm.queryString({ after: page.next })}`
      })
    }
  )
}

export default consolePlugin
