/**
 * Pure bookkeeping of a replay: what the runner answered for each event and what went over the
 * wire, folded into one summary. No I/O here, so it is tested on plain values.
 */
import type { Result } from '@segment/actions-core'

/** An outgoing request as it was sent (dry run: as it would have been sent). */
export interface ReplayRequest {
  method: string
  url: string
  /** The JSON body; the raw text when it is not JSON. */
  body: unknown
  /** HTTP status of the answer (the local sink's 204 in a dry run). */
  status: number
}

/** A segment-audiences cohort that at least one accepted request changed. */
export interface CohortTouched {
  contextKind: string
  cohortId: string
  cohortName: string
  /** Members sent with value true / false (after the destination's de-duplication). */
  added: number
  removed: number
}

export interface ReplaySummary {
  /** Lines that held a JSON object. */
  eventsRead: number
  malformedLines: number
  /** The first few malformed lines, for the report. */
  malformedSamples: Array<{ line: number; error: string }>
  batches: number
  /** Events the destination delivered (2xx). */
  delivered: number
  /** Events not delivered, by status and reason (validation rejections, failed requests, not subscribed). */
  rejected: Array<{ status: number; reason: string; count: number }>
  /** Requests that got an HTTP answer. */
  requests: number
  /** Count of requests per HTTP status. */
  requestStatuses: Record<string, number>
  cohorts: CohortTouched[]
  dryRun: boolean
}

const MALFORMED_SAMPLES = 5
/** What actions-core answers for an event its subscription does not match. */
const NOT_SUBSCRIBED = 'Payload is either invalid or does not match the subscription'

export function emptySummary(dryRun: boolean): ReplaySummary {
  return {
    eventsRead: 0,
    malformedLines: 0,
    malformedSamples: [],
    batches: 0,
    delivered: 0,
    rejected: [],
    requests: 0,
    requestStatuses: {},
    cohorts: [],
    dryRun
  }
}

export function recordMalformed(summary: ReplaySummary, line: number, error: string): void {
  summary.malformedLines += 1
  if (summary.malformedSamples.length < MALFORMED_SAMPLES) summary.malformedSamples.push({ line, error })
}

function reject(summary: ReplaySummary, status: number, reason: string, count = 1): void {
  const entry = summary.rejected.find((r) => r.status === status && r.reason === reason)
  if (entry) entry.count += count
  else summary.rejected.push({ status, reason, count })
}

interface MultiStatusNode {
  status: number
  errormessage?: string
}

/**
 * Folds `Destination.onBatch`'s results for `eventCount` events. actions-core answers a batch with
 * one multistatus entry per event, or with no multistatus at all when no event matched the
 * subscription.
 */
export function recordBatchResults(summary: ReplaySummary, results: Result[], eventCount: number): void {
  summary.batches += 1
  const multistatus = results.find((r) => Array.isArray(r.multistatus))?.multistatus as MultiStatusNode[] | undefined
  if (!multistatus) {
    reject(summary, 400, NOT_SUBSCRIBED, eventCount)
    return
  }
  for (let i = 0; i < eventCount; i++) {
    const node = multistatus[i]
    if (!node) reject(summary, 500, 'no result from the destination')
    else if (node.status >= 200 && node.status < 300) summary.delivered += 1
    else reject(summary, node.status, node.errormessage ?? `status ${node.status}`)
  }
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body
  try {
    return JSON.parse(body)
  } catch {
    return body
  }
}

interface SegmentAudiencesMember {
  cohortId?: unknown
  cohortName?: unknown
  value?: unknown
}

export function recordRequest(summary: ReplaySummary, request: ReplayRequest): void {
  summary.requests += 1
  summary.requestStatuses[request.status] = (summary.requestStatuses[request.status] ?? 0) + 1
  if (request.status < 200 || request.status >= 300) return
  const body = parseBody(request.body) as { contextKind?: unknown; batch?: unknown }
  if (!body || typeof body !== 'object' || !Array.isArray(body.batch)) return
  const contextKind = String(body.contextKind ?? 'user')
  for (const member of body.batch as SegmentAudiencesMember[]) {
    const cohortId = String(member.cohortId)
    let cohort = summary.cohorts.find((c) => c.contextKind === contextKind && c.cohortId === cohortId)
    if (!cohort) {
      cohort = { contextKind, cohortId, cohortName: String(member.cohortName), added: 0, removed: 0 }
      summary.cohorts.push(cohort)
    }
    cohort.cohortName = String(member.cohortName)
    if (member.value === true) cohort.added += 1
    else cohort.removed += 1
  }
}

/** Normalises what the request client saw into a ReplayRequest. */
export function toReplayRequest(method: string | undefined, url: string, body: unknown, status: number): ReplayRequest {
  return { method: (method ?? 'GET').toUpperCase(), url, body: parseBody(body), status }
}
