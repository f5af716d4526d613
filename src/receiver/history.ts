/**
 * Recording the write endpoints in the sync history (SPEC §F). A write route does three things:
 *
 * 1. `beginSyncRecord(request, principal, operation, integration)` as soon as the token is
 *    recognised — from then on the request is recorded, whatever happens;
 * 2. `noteSync(request, { env, segmentKeys, members })` as it learns them (a rejection is recorded
 *    under what was known by then);
 * 3. for the change itself, `applyRecorded(...)` / `deleteRecorded(...)` (or, for a store method of
 *    its own, `syncRecordDraft(request, statusCode)` passed into it): the store writes a 2xx's
 *    record in the change's own transaction.
 *
 * The app's onResponse hook (`registerSyncHistory`) then writes the record of every recorded
 * request that ended in an error (the store wrote none: nothing was applied), and counts each
 * recorded request in the metrics. Nothing here runs for requests whose token was not recognised.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { HttpError } from '../errors'
import type {
  ApplyOptions,
  ApplyResult,
  EnvironmentRef,
  SegmentChange,
  SyncOperation,
  SyncRecord,
  SyncRecordDraft,
  SyncSegmentCounts
} from '../store/types'
import { can, type Principal } from './auth'
import type { SyncMetrics } from './metrics'
import type { ReceiverContext } from './routes/context'

/** What a recorded request has resolved so far. */
export interface PendingSyncRecord {
  operation: SyncOperation
  integration: string
  tokenName: string
  time: number
  /** Where the record goes; when never resolved, the one environment the token may write, if any. */
  env?: EnvironmentRef
  /** The segments the request names (known after parsing). */
  segmentKeys: string[]
  /** Membership ops in the request (known after parsing). */
  members: number
  /** The 2xx's counts once the store applied it (the store wrote the record). */
  counts?: SyncSegmentCounts[]
  /** The error the client was sent, set by the app's error handler. */
  error?: { code: string; message: string }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `beginSyncRecord` on a write route whose token was recognised. */
    syncRecord: PendingSyncRecord | null
  }
}

/** Longest integration key as a client sent it that a record keeps (an unknown one may be anything). */
const MAX_INTEGRATION_LENGTH = 100

export function beginSyncRecord(
  request: FastifyRequest,
  principal: Principal,
  operation: SyncOperation,
  integration: string
): void {
  request.syncRecord = {
    operation,
    integration: integration.slice(0, MAX_INTEGRATION_LENGTH),
    tokenName: principal.name,
    time: Date.now(),
    segmentKeys: [],
    members: 0
  }
}

/**
 * For the REST API's writes to one segment (a delete, `POST …/contexts`, an import): recorded
 * from the moment their token is recognised, under the environment and segment their path names.
 */
export function beginSegmentWriteRecord(
  ctx: ReceiverContext,
  request: FastifyRequest,
  operation: 'delete' | 'contexts' | 'import'
): void {
  const principal = ctx.authority.lookup(request.headers.authorization)
  if (!principal) return
  const { projectKey, environmentKey, segmentKey } = request.params as {
    projectKey?: string
    environmentKey?: string
    segmentKey?: string
  }
  beginSyncRecord(request, principal, operation, '')
  noteSync(request, {
    env: ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`),
    segmentKeys: segmentKey === undefined ? [] : [segmentKey]
  })
}

export function noteSync(
  request: FastifyRequest,
  known: Partial<Pick<PendingSyncRecord, 'env' | 'segmentKeys' | 'members'>>
): void {
  if (request.syncRecord) Object.assign(request.syncRecord, known)
}

/** Called by the app's error handler with the error the client is sent. */
export function noteSyncError(request: FastifyRequest, error: HttpError): void {
  if (request.syncRecord) request.syncRecord.error = { code: error.code, message: error.message }
}

/** The draft a store writes with a 2xx's change; undefined when the history is off or the request unrecorded. */
export function syncRecordDraft(request: FastifyRequest, statusCode: number): SyncRecordDraft | undefined {
  const pending = request.syncRecord
  if (!pending || !request.server.syncHistoryEnabled) return undefined
  return {
    requestId: request.id,
    time: pending.time,
    operation: pending.operation,
    integration: pending.integration,
    tokenName: pending.tokenName,
    statusCode
  }
}

/**
 * `store.apply` with the request's record. The counts come back on the segments' `_lastSync`
 * (added, removed; the rest of each change's ops changed nothing), for the metrics.
 */
export async function applyRecorded(
  ctx: ReceiverContext,
  request: FastifyRequest,
  env: EnvironmentRef,
  changes: SegmentChange[],
  options: ApplyOptions,
  statusCode: number
): Promise<ApplyResult> {
  const record = syncRecordDraft(request, statusCode)
  const result = await ctx.store.apply(env, changes, { ...options, record })
  if (record && request.syncRecord) {
    request.syncRecord.counts = result.segments.map((segment, i) => {
      const added = segment._lastSync?.added ?? 0
      const removed = segment._lastSync?.removed ?? 0
      return { segmentKey: segment.key, added, removed, unchanged: changes[i].ops.length - added - removed }
    })
  }
  return result
}

/** `store.deleteSegment` with the request's record (answered 204). */
export async function deleteRecorded(
  ctx: ReceiverContext,
  request: FastifyRequest,
  env: EnvironmentRef,
  segmentKey: string
): Promise<boolean> {
  const record = syncRecordDraft(request, 204)
  const deleted = await ctx.store.deleteSegment(env, segmentKey, { record })
  if (deleted && record && request.syncRecord) request.syncRecord.counts = []
  return deleted
}

/**
 * The record of an import that was answered 204 but stopped while it was applied in the background
 * (its segment deleted, the store unreachable): nothing of it was applied.
 */
export function recordStoppedImport(
  ctx: ReceiverContext,
  request: FastifyRequest,
  env: EnvironmentRef,
  segmentKey: string,
  keys: number,
  error: Error
): void {
  const draft = syncRecordDraft(request, 204)
  if (!draft) return
  const record: SyncRecord = {
    ...draft,
    projectKey: env.projectKey,
    environmentKey: env.environmentKey,
    segments: [{ segmentKey, added: 0, removed: 0, unchanged: 0 }],
    members: keys,
    status: 'error',
    error: { code: (error as Partial<HttpError>).code ?? 'import_stopped', message: error.message },
    durationMs: Math.max(0, Date.now() - draft.time)
  }
  ctx.store.recordSync(env, record).catch((failure: unknown) => {
    request.log.warn({ err: failure }, 'could not record a stopped import in the sync history')
  })
}

/** The one environment a token may write, for a rejection that names none (bad JSON, an unknown client-side ID). */
function onlyWritableEnvironment(
  ctx: ReceiverContext,
  principal: Principal | null
): EnvironmentRef | undefined {
  if (!principal) return undefined
  let found: EnvironmentRef | undefined
  for (const env of ctx.environmentsByPath.values()) {
    if (!can(principal, 'updateIncluded', env.projectKey, env.environmentKey)) continue
    if (found) return undefined
    found = env
  }
  return found
}

function errorRecord(
  request: FastifyRequest,
  reply: FastifyReply,
  pending: PendingSyncRecord,
  env: EnvironmentRef
): SyncRecord {
  const record: SyncRecord = {
    requestId: request.id,
    time: pending.time,
    operation: pending.operation,
    integration: pending.integration,
    tokenName: pending.tokenName,
    projectKey: env.projectKey,
    environmentKey: env.environmentKey,
    segments: pending.segmentKeys.map((segmentKey) => ({ segmentKey, added: 0, removed: 0, unchanged: 0 })),
    members: pending.members,
    status: 'error',
    statusCode: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime)
  }
  record.error = pending.error ?? { code: 'error', message: `answered ${reply.statusCode}` }
  return record
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether write routes record in the sync history (BuildAppOptions.history). */
    syncHistoryEnabled: boolean
  }
}

/**
 * Records the rejected requests after their response has gone out (off the request's latency), and
 * counts every recorded request in the metrics.
 */
export function registerSyncHistory(
  app: FastifyInstance,
  ctx: ReceiverContext,
  options: { enabled: boolean; metrics: SyncMetrics | undefined }
): void {
  app.decorate('syncHistoryEnabled', options.enabled)
  app.decorateRequest('syncRecord', null)
  const { metrics } = options
  if (!options.enabled && !metrics) return

  app.addHook('onResponse', (request, reply, done) => {
    const pending = request.syncRecord
    if (!pending) return done()
    const failed = reply.statusCode >= 400
    // A label takes only known integration keys: an unknown one sent by a client could be anything.
    const label =
      ctx.integrations.get(pending.integration.toLowerCase())?.key ?? (pending.integration && 'unknown')
    metrics?.countSync(label, failed, pending.counts)
    if (failed && options.enabled) {
      const env = pending.env ?? onlyWritableEnvironment(ctx, request.principal)
      if (env) {
        const record = errorRecord(request, reply, pending, env)
        ctx.store.recordSync(env, record).catch((error: unknown) => {
          request.log.warn({ err: error }, 'could not record a rejected request in the sync history')
        })
      }
    }
    done()
  })
}
