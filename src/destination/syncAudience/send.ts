/**
 * The I/O edge of syncAudience: POSTs planned bodies, at most MAX_IN_FLIGHT at once, and turns
 * every answer (or the lack of one) into a RequestOutcome. Nothing here throws.
 */
import { STATUS_CODES } from 'node:http'
import type { JSONLikeObject, RequestClient } from '@segment/actions-core'
import { segmentAudiencesJson } from './body-json'
import { mapWithConcurrency } from './pool'
import type { SegmentAudiencesBody } from './requests'

export const MAX_IN_FLIGHT = 4

/** No HTTP status came back: a timeout (408) or a network failure (503); both are worth a retry. */
export const TIMEOUT_STATUS = 408
export const NETWORK_ERROR_STATUS = 503

export type RequestOutcome =
  | { ok: true; status: number; body: JSONLikeObject | string }
  | {
      ok: false
      status: number
      /** auth: 401/403; retryable: 408, 429, 5xx, timeouts, network errors; rejected: any other. */
      failure: 'auth' | 'retryable' | 'rejected'
      message: string
      body?: JSONLikeObject | string
    }

/** LaunchDarkly errors are `{"code", "message"}`; anything else is shown as (trimmed) text. */
function describeBody(body: unknown): string {
  if (body !== null && typeof body === 'object') {
    const { code, message } = body as { code?: unknown; message?: unknown }
    if (typeof message === 'string' && message)
      return typeof code === 'string' && code ? `${code}: ${message}` : message
    return JSON.stringify(body).slice(0, 500)
  }
  return typeof body === 'string' ? body.trim().slice(0, 500) : ''
}

function asBody(data: unknown, content: string): JSONLikeObject | string {
  return data !== null && typeof data === 'object' ? (data as JSONLikeObject) : content
}

/** Pure: an HTTP answer → outcome. */
export function classifyResponse(status: number, body: JSONLikeObject | string): RequestOutcome {
  if (status >= 200 && status < 300) return { ok: true, status, body }
  const detail = describeBody(body) || STATUS_CODES[status] || 'no message'
  const message = `LaunchDarkly answered ${status}: ${detail}`
  if (status === 401 || status === 403) return { ok: false, status, failure: 'auth', message, body }
  if (status === 408 || status === 429 || status >= 500)
    return { ok: false, status, failure: 'retryable', message, body }
  return { ok: false, status, failure: 'rejected', message, body }
}

/** Pure: an error thrown by the request client (no HTTP answer) → outcome. */
export function classifyFailure(error: unknown): RequestOutcome {
  const { name, message, code } = (error ?? {}) as { name?: string; message?: string; code?: string }
  const timedOut = name === 'TimeoutError' || name === 'RequestTimeoutError' || code === 'ETIMEDOUT'
  const reason = message || String(error)
  return timedOut
    ? {
        ok: false,
        status: TIMEOUT_STATUS,
        failure: 'retryable',
        message: `LaunchDarkly did not answer in time: ${reason}`
      }
    : {
        ok: false,
        status: NETWORK_ERROR_STATUS,
        failure: 'retryable',
        message: `Could not reach LaunchDarkly: ${reason}`
      }
}

async function sendOne(
  request: RequestClient,
  url: string,
  body: SegmentAudiencesBody
): Promise<RequestOutcome> {
  try {
    // throwHttpErrors: false so every status is mapped here, in one place. The body goes as text we
    // serialise (the request client would JSON.stringify a `json` option); its Content-Type is the
    // destination's extendRequest header, the same value the client would set.
    const response = await request(url, {
      method: 'POST',
      body: segmentAudiencesJson(body),
      throwHttpErrors: false
    })
    return classifyResponse(response.status, asBody(response.data, response.content))
  } catch (error) {
    return classifyFailure(error)
  }
}

export function sendSyncRequests(
  request: RequestClient,
  url: string,
  bodies: readonly SegmentAudiencesBody[]
): Promise<RequestOutcome[]> {
  return mapWithConcurrency(bodies, MAX_IN_FLIGHT, (body) => sendOne(request, url, body))
}
