/** Shared fixtures for the destination tests: Engage-shaped events, settings, preset subscription. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JSONObject, SegmentEvent, Subscription } from '@segment/actions-core'
import destination from '../../src/destination'
import type { Settings } from '../../src/destination/generated-types'
import type { Payload } from '../../src/destination/syncAudience/generated-types'

export const API = 'https://app.launchdarkly.com'
export const CLIENTSDK = 'https://clientsdk.launchdarkly.com'
export const TARGET_PATH = '/api/v2/segment-targets/segment-audiences'

export const settings: Settings = { apiKey: 'api-test-token', clientId: 'client-side-id-123' }

/** The syncAudience field keys: Segment's, in its order, then our batch_size. */
export const SYNC_AUDIENCE_FIELD_KEYS = [
  'segment_audience_id',
  'segment_audience_key',
  'segment_computation_action',
  'context_kind',
  'segment_user_id',
  'segment_anonymous_id',
  'user_email',
  'context_key',
  'traits_or_props',
  'enable_batching',
  'audience_action',
  'batch_size'
]

const preset = destination.presets?.[0]
if (!preset || preset.type !== 'automatic') throw new Error('the destination must have one automatic preset')
export const presetSubscription: Subscription = preset

/** Settings as Segment hands them to `Destination.onEvent/onBatch`: with the enabled subscriptions. */
export function runnerSettings(overrides: Partial<Settings> = {}, mapping: JSONObject = {}): JSONObject {
  return {
    ...settings,
    ...overrides,
    subscriptions: [
      {
        partnerAction: presetSubscription.partnerAction,
        name: presetSubscription.name ?? 'preset',
        subscribe: presetSubscription.subscribe,
        mapping: { ...presetSubscription.mapping, ...mapping }
      }
    ]
  } as unknown as JSONObject
}

interface EngageOptions {
  audienceKey?: string
  audienceId?: string
  userId?: string | null
  anonymousId?: string
  email?: string
  /** Membership value as Engage would send it; `undefined` leaves the trait out. */
  value?: unknown
  computationClass?: string
  messageId?: string
}

function personas(o: EngageOptions) {
  return {
    computation_class: o.computationClass ?? 'audience',
    computation_id: o.audienceId ?? 'aud_1',
    computation_key: o.audienceKey ?? 'ld_segment_test',
    namespace: 'spa_1',
    space_id: 'spa_1'
  }
}

function membershipOf(o: EngageOptions): Record<string, unknown> {
  return 'value' in o && o.value === undefined
    ? {}
    : { [o.audienceKey ?? 'ld_segment_test']: 'value' in o ? o.value : true }
}

/** An Engage audience `identify`: membership in `traits`. */
export function identifyEvent(o: EngageOptions = {}): SegmentEvent {
  return {
    type: 'identify',
    messageId: o.messageId ?? 'msg-identify',
    timestamp: '2026-11-21T12:00:00.000Z',
    userId: o.userId === null ? undefined : (o.userId ?? 'user-1'),
    anonymousId: o.anonymousId ?? 'anon-1',
    traits: { ...(o.email ? { email: o.email } : {}), ...membershipOf(o) },
    context: { personas: personas(o) }
  }
}

/** An Engage audience `track` ("Audience Entered/Exited"): membership in `properties`. */
export function trackEvent(o: EngageOptions = {}): SegmentEvent {
  const value = 'value' in o ? o.value : false
  return {
    type: 'track',
    event: value === true ? 'Audience Entered' : 'Audience Exited',
    messageId: o.messageId ?? 'msg-track',
    timestamp: '2026-11-21T12:00:00.000Z',
    userId: o.userId === null ? undefined : (o.userId ?? 'user-1'),
    anonymousId: o.anonymousId ?? 'anon-1',
    properties: { audience_key: o.audienceKey ?? 'ld_segment_test', ...membershipOf({ ...o, value }) },
    context: { personas: personas(o), ...(o.email ? { traits: { email: o.email } } : {}) }
  }
}

/** A mapped payload, as actions-core hands it to the action (for the pure planner's tests). */
export function payload(overrides: Partial<Payload> = {}): Payload {
  return {
    segment_audience_id: 'aud_1',
    segment_audience_key: 'ld_segment_test',
    segment_computation_action: 'audience',
    context_kind: 'user',
    segment_user_id: 'user-1',
    segment_anonymous_id: 'anon-1',
    context_key: 'user_id_only',
    traits_or_props: { ld_segment_test: true },
    enable_batching: true,
    batch_size: 1000,
    ...overrides
  }
}

export interface CapturedRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: unknown
}

/** Headers as the receiver sees them, minus the ones the HTTP stack picks (host, connection). */
export function stableHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || name === 'host' || name === 'connection') continue
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return Object.fromEntries(Object.entries(headers).sort(([a], [b]) => a.localeCompare(b)))
}

/** A local URL nothing listens on, so connecting fails at once with ECONNREFUSED. */
export async function refusingBaseUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

/** Error answers a request can get, `[status, code, message]`, for the per-event outcome tables. */
export const FAILED_REQUEST_ANSWERS: Array<[number, string, string]> = [
  [400, 'invalid_request', 'environment not found for client-side ID'],
  [401, 'unauthorized', 'Invalid access token'],
  [403, 'forbidden', 'token may not write this environment'],
  [404, 'not_found', 'Unknown integration'],
  [409, 'conflict', 'segment has another context kind'],
  [429, 'rate_limited', 'slow down'],
  [500, 'internal', 'boom']
]
