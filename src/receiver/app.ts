/**
 * The receiver as a Fastify instance, built by a factory and never listening by itself (the CLI
 * and the tests decide). One error handler turns every error into JSON; nothing here ever answers
 * with HTML or a stack trace.
 */
import { isUtf8 } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import consolePlugin from '../console'
import { BadRequestError, HttpError } from '../errors'
import type { SegmentStore } from '../store/types'
import { TooManyRequestsError } from './auth'
import { CONSOLE_PREFIX } from './links'
import type { ReceiverConfig } from './config'
import type { CompiledIntegration } from './integrations'
import { createContext, JSON_TYPE } from './routes/context'
import exportsRoutes from './routes/exports'
import importsRoutes from './routes/imports'
import { noteSyncError, registerSyncHistory } from './history'
import { registerMetrics } from './metrics'
import healthRoutes from './routes/health'
import metricsRoutes from './routes/metrics'
import syncHistoryRoutes from './routes/sync-history'
import sdkRoutes from './routes/sdk'
import segmentTargetsRoutes, { renderSyncResponse } from './routes/segment-targets'
import segmentsRoutes from './routes/segments'
import statusRoutes from './routes/status'
import versionsRoutes from './routes/versions'

export interface BuildAppOptions {
  store: SegmentStore
  /** Compiled integrations keyed by lower-cased integration key. */
  integrations: Map<string, CompiledIntegration>
  config: ReceiverConfig
  /** Fastify/pino logger options; off by default. Requests themselves are never logged. */
  logger?: boolean | object
  /** A request not received in full within this time is answered 408 (slow clients); default 30 s. */
  requestTimeoutMs?: number
  /** The sync history (§F); on by default, off when this or the configuration's `history.enabled` is false. */
  history?: boolean
  /** `GET /metrics` (§F); on by default, off when this or the configuration's `metrics.enabled` is false. */
  metrics?: boolean
}

const INTERNAL_ERROR = { code: 'internal_error', message: 'internal error' }

/** Longest path parameter, as sent (percent-encoded). */
const MAX_PARAM_LENGTH = 16 * 1024

// Fastify's (and Node's) errors that are the client's fault, with LaunchDarkly-style codes.
const FASTIFY_ERRORS: Record<string, { status: number; code: string }> = {
  // The client went away while its body was read, or was cut off as too slow: not worth an error
  // log line with a stack each time (a client could flood the log by aborting uploads).
  ECONNRESET: { status: 400, code: 'request_aborted' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'request_too_large' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_request' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request' }
}

/** The client-facing form of an error, or undefined when it is ours (a 500). */
function toHttpError(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error
  const e = error as Partial<FastifyError>
  if (e.validation) return new BadRequestError(e.message ?? 'invalid request')
  const known = typeof e.code === 'string' ? FASTIFY_ERRORS[e.code] : undefined
  if (known) return new HttpError(known.status, known.code, e.message ?? STATUS_CODES[known.status] ?? 'invalid request')
  if (typeof e.code === 'string' && e.code.startsWith('FST_') && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new HttpError(e.statusCode, 'invalid_request', e.message ?? 'invalid request')
  }
  return undefined
}

/**
 * LaunchDarkly's error body, `{ code, message, id }`, `id` being the request's id: the same id
 * (`reqId`) is on every log line of the request, such as a 500's details, so a client's report
 * leads to them. Client errors are not logged (a client could flood the log with them).
 */
function errorBody(request: FastifyRequest, code: string, message: string): { code: string; message: string; id: string } {
  return { code, message, id: request.id }
}

function sendError(request: FastifyRequest, reply: FastifyReply, error: HttpError, publicUrl: string | undefined): FastifyReply {
  noteSyncError(request, error)
  if (error instanceof TooManyRequestsError) {
    reply.header('x-ratelimit-reset', String(error.resetAt)).header('retry-after', String(error.retryAfterSeconds))
  }
  if (request.integration) {
    let rendered: string | undefined
    try {
      rendered = renderSyncResponse(request, error.statusCode, error.message, publicUrl)
    } catch (renderError) {
      // The integration's template itself is broken: its error is a 500 naming the integration.
      const failure = renderError instanceof HttpError ? renderError : undefined
      if (!failure) request.log.error({ err: renderError }, 'jsonResponseBody rendering failed')
      return reply
        .code(failure?.statusCode ?? 500)
        .type(JSON_TYPE)
        .send(errorBody(request, failure?.code ?? INTERNAL_ERROR.code, failure?.message ?? INTERNAL_ERROR.message))
    }
    if (rendered !== undefined) return reply.code(error.statusCode).type(JSON_TYPE).send(rendered)
  }
  return reply.code(error.statusCode).type(JSON_TYPE).send(errorBody(request, error.code, error.message))
}

/** A JSON body only: invalid UTF-8 or JSON is a 400, an empty body is left undefined for the route. */
function parseJsonBody(_request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(null, undefined)
  if (!isUtf8(body)) return done(new BadRequestError('request body is not valid UTF-8'))
  try {
    done(null, JSON.parse(body.toString('utf8')))
  } catch (error) {
    done(new BadRequestError(`request body is not valid JSON: ${(error as Error).message}`))
  }
}

/** Errors below HTTP (malformed requests, timeouts) get the same JSON shape as the rest. */
function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  // Below HTTP there is no request (nor its id) yet: the answer gets an id of its own.
  const body = JSON.stringify({
    code: status === 408 ? 'request_timeout' : 'invalid_request',
    message: status === 408 ? 'request not received in time' : 'malformed HTTP request',
    id: randomUUID()
  })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${JSON_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  )
}

function loggerOptions(logger: boolean | object | undefined): boolean | object {
  if (!logger) return false
  // Tokens never reach the log, whatever serializers a caller configures.
  const redact = ['req.headers.authorization', 'headers.authorization']
  return logger === true ? { redact } : { redact, ...logger }
}

export function buildApp(options: BuildAppOptions): FastifyInstance {
  const { config } = options
  const ctx = createContext(options.store, options.integrations, config)
  const requestTimeout = options.requestTimeoutMs ?? 30_000
  const app = Fastify({
    // Node enforces these timeouts only when it sweeps its connections, every 30 s by default, and
    // a request whose headers arrived but whose body stalls waits for headersTimeout (60 s): a slow
    // client would hold its socket long past the timeout. Sweep often enough that the 408 comes
    // within the timeout plus a quarter of it (at most a second).
    http:
      requestTimeout > 0
        ? { connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(requestTimeout / 4))), headersTimeout: requestTimeout }
        : null,
    logger: loggerOptions(options.logger),
    // Request ids are what error bodies, log lines and sync-history records share: unique across
    // restarts and receivers.
    genReqId: () => randomUUID(),
    // The hot path logs nothing on success; errors worth a look are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    requestTimeout,
    // Path parameters carry member IDs (up to 1,024 characters, up to 9 each when percent-encoded)
    // and segment keys (up to 256): Fastify's default of 100 would refuse most of them.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any route runs (bad percent-encoding, an over-long
    // parameter) would otherwise get Fastify's own error shape, echoing the whole path.
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      void (reply as FastifyReply)
        .code(tooLong ? 414 : 400)
        .type(JSON_TYPE)
        .send(
          tooLong
            ? errorBody(request as FastifyRequest, 'uri_too_long', `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`)
            : errorBody(request as FastifyRequest, 'invalid_request', 'the URL is not validly percent-encoded')
        )
    },
    clientErrorHandler
  })

  app.decorateRequest('principal', null)
  app.decorateRequest('integration', null)
  app.decorateRequest('sync', null)

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJsonBody)

  const metrics = options.metrics !== false && config.metrics?.enabled !== false ? registerMetrics(app, ctx) : undefined
  registerSyncHistory(app, ctx, { enabled: options.history !== false && config.history?.enabled !== false, metrics })

  app.setErrorHandler((error, request, reply) => {
    const httpError = toHttpError(error)
    if (httpError) return sendError(request, reply, httpError, config.publicUrl)
    // Details stay in the log; the client learns only that it was not its fault.
    request.log.error({ err: error, url: request.routeOptions.url, method: request.method }, 'internal error')
    return sendError(request, reply, new HttpError(500, INTERNAL_ERROR.code, INTERNAL_ERROR.message), config.publicUrl)
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0].slice(0, 200)
    return reply.code(404).type(JSON_TYPE).send(errorBody(request, 'not_found', `no route for ${request.method} ${path}`))
  })

  void app.register(segmentTargetsRoutes, { ctx })
  void app.register(segmentsRoutes, { ctx, prefix: '/api/v2/segments' })
  void app.register(importsRoutes, { ctx, prefix: '/api/v2/segments' })
  void app.register(exportsRoutes, { ctx, prefix: '/api/v2/segments' })
  void app.register(versionsRoutes, { ctx })
  void app.register(sdkRoutes, { ctx })
  void app.register(healthRoutes, { ctx })
  void app.register(statusRoutes, { ctx })
  void app.register(consolePlugin, { ctx, prefix: CONSOLE_PREFIX })
  void app.register(syncHistoryRoutes, { ctx })
  if (metrics) void app.register(metricsRoutes, { metrics })
  return app
}
