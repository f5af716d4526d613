/**
 * Pure: Engage event payloads → the request bodies LaunchDarkly's `segment-audiences` endpoint
 * takes, and for every event either the request that carries its final membership or the reason
 * it was rejected. No I/O here; sending lives in ./send.ts.
 */
import type { Payload } from './generated-types'

export const MIN_BATCH_SIZE = 1
export const MAX_BATCH_SIZE = 10000
export const DEFAULT_BATCH_SIZE = 1000
/** The receiver rejects a whole request over one longer member ID, so catch it per event here. */
export const MAX_CONTEXT_KEY_LENGTH = 1024
/** Likewise for a key the receiver cannot store faithfully (`u` flag: emoji pairs do not match). */
const UNPAIRED_SURROGATE = /\p{Cs}/u

export const CONTEXT_KEY_PRIORITIES = [
  'user_id_only',
  'user_id_then_email',
  'user_id_then_anonymousId',
  'user_id_then_email_then_anonymousId',
  'email_only'
] as const
export type ContextKeyPriority = (typeof CONTEXT_KEY_PRIORITIES)[number]

type IdentifierField = 'segment_user_id' | 'user_email' | 'segment_anonymous_id'

const PRIORITY_FIELDS: Readonly<Record<ContextKeyPriority, readonly IdentifierField[]>> = {
  user_id_only: ['segment_user_id'],
  user_id_then_email: ['segment_user_id', 'user_email'],
  user_id_then_anonymousId: ['segment_user_id', 'segment_anonymous_id'],
  user_id_then_email_then_anonymousId: ['segment_user_id', 'user_email', 'segment_anonymous_id'],
  email_only: ['user_email']
}

const SUPPORTED_COMPUTATION_ACTIONS: readonly string[] = ['audience', 'journey_step']
const CONTEXT_KIND_PATTERN = /^[A-Za-z0-9._-]+$/

export interface CohortMember {
  userId: string
  cohortName: string
  cohortId: string
  value: boolean
}

export interface SegmentAudiencesBody {
  environmentId: string
  contextKind: string
  batch: CohortMember[]
}

/** Where one input event ended up: the index of its request in `requests`, or why it was rejected. */
export type EventRoute = { request: number; member: CohortMember } | { rejected: string }

export interface SyncPlan {
  requests: SegmentAudiencesBody[]
  /** One entry per input payload, in input order. */
  routes: EventRoute[]
}

export interface PlanOptions {
  /** The environment's client-side ID, sent as `environmentId`. */
  clientId: string
}

/**
 * The segment name Segment's own destination gives an audience: the first character upper-cased and
 * every `_` a space, nothing else (`VIP_Users` → `VIP Users`, `ld_segment_test` → `Ld segment test`).
 * LaunchDarkly renames the segment on every sync, so any other rule would rename a migrating
 * workspace's segments.
 */
export function toCohortName(audienceKey: string): string {
  return (audienceKey.charAt(0).toUpperCase() + audienceKey.slice(1)).split('_').join(' ')
}

/** LaunchDarkly's rule for a context kind; `kind` and `multi` are reserved. */
export function contextKindProblem(kind: unknown): string | undefined {
  if (typeof kind !== 'string' || kind === '') return 'context_kind is missing'
  if (kind === 'kind' || kind === 'multi') return `context_kind "${kind}" is reserved by LaunchDarkly`
  if (!CONTEXT_KIND_PATTERN.test(kind)) {
    return `context_kind "${kind}" is invalid: only letters, digits, '.', '_' and '-' are allowed`
  }
  return undefined
}

/** As Segment's destination reads an identifier: any string but ''. */
export function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

/** A warehouse column's value that can name something: a string with more than white space. */
export function nonBlankString(value: unknown): value is string {
  if (typeof value !== 'string' || value === '') return false
  // A printable ASCII first character settles it; only other values need trim()'s Unicode rule.
  const first = value.charCodeAt(0)
  return (first > 0x20 && first < 0x7f) || value.trim() !== ''
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing'
  return `${JSON.stringify(value)} (${value === null ? 'null' : typeof value})`
}

/** What the receiver would refuse in a non-empty key, named by where the key came from. */
export function contextKeyProblem(key: string, from: string): string | undefined {
  if (key.length > MAX_CONTEXT_KEY_LENGTH) {
    return `context key from ${from} is longer than ${MAX_CONTEXT_KEY_LENGTH} characters`
  }
  if (UNPAIRED_SURROGATE.test(key)) return `context key from ${from} holds an unpaired UTF-16 surrogate`
  return undefined
}

function pickContextKey(payload: Payload): { key: string } | { problem: string } {
  const priority = payload.context_key as ContextKeyPriority
  const candidates = PRIORITY_FIELDS[priority]
  if (!candidates) {
    return {
      problem: `context_key must be one of ${CONTEXT_KEY_PRIORITIES.join(', ')}; got "${payload.context_key}"`
    }
  }
  for (const field of candidates) {
    const value = payload[field]
    if (nonEmptyString(value)) {
      const problem = contextKeyProblem(value, field)
      return problem ? { problem } : { key: value }
    }
  }
  return {
    problem: `no context key: context_key is "${priority}" and ${candidates.join(', ')} ${
      candidates.length === 1 ? 'is' : 'are all'
    } missing or empty`
  }
}

/** The payload's `batch_size` (a number, so that the schema enforces its limits; a fraction rounds down), or why it is out of range. */
export function batchSizeOf(payload: { batch_size?: number }): number | string {
  const size = payload.batch_size ?? DEFAULT_BATCH_SIZE
  if (!(size >= MIN_BATCH_SIZE && size <= MAX_BATCH_SIZE)) {
    return `batch_size must be a number from ${MIN_BATCH_SIZE} to ${MAX_BATCH_SIZE}; got ${JSON.stringify(size)}`
  }
  return Math.floor(size)
}

/** One event's member, ready to plan, or why the event was rejected; both actions produce these. */
export type AcceptedMember = { kind: string; member: CohortMember; batchSize: number } | { rejected: string }

/**
 * What the events of one batch share, worked out once per batch rather than per event: they come
 * from one mapping and a handful of audiences, so each audience's sentence-case name is built once
 * and the context kind (mostly one for the whole batch) is checked once per distinct value in a row.
 */
export class BatchMemo {
  private readonly cohortNames = new Map<string, string>()
  private kindChecked = false
  private checkedKind: unknown
  private checkedKindProblem: string | undefined

  cohortName(audienceKey: string): string {
    let cohortName = this.cohortNames.get(audienceKey)
    if (cohortName === undefined) {
      cohortName = toCohortName(audienceKey)
      this.cohortNames.set(audienceKey, cohortName)
    }
    return cohortName
  }

  /** contextKindProblem, remembered for the last kind seen. */
  kindProblem(kind: unknown): string | undefined {
    if (!this.kindChecked || kind !== this.checkedKind) {
      this.kindChecked = true
      this.checkedKind = kind
      this.checkedKindProblem = contextKindProblem(kind)
    }
    return this.checkedKindProblem
  }
}

/** Validates one payload; never guesses a membership or a key. */
function acceptPayload(payload: Payload, memo: BatchMemo): AcceptedMember {
  const action = payload.segment_computation_action
  if (!SUPPORTED_COMPUTATION_ACTIONS.includes(action)) {
    return {
      rejected: `segment_computation_action must be "audience" or "journey_step" (an Engage audience or journey event); got ${describeValue(action)}`
    }
  }
  const audienceId = payload.segment_audience_id
  if (!nonEmptyString(audienceId))
    return { rejected: 'segment_audience_id (the Engage audience ID) is missing or empty' }
  const audienceKey = payload.segment_audience_key
  if (!nonEmptyString(audienceKey)) {
    return { rejected: 'segment_audience_key (the Engage audience key) is missing or empty' }
  }
  const kindProblem = memo.kindProblem(payload.context_kind)
  if (kindProblem) return { rejected: kindProblem }

  const traits = payload.traits_or_props
  const membership =
    traits !== null && typeof traits === 'object' && Object.prototype.hasOwnProperty.call(traits, audienceKey)
      ? traits[audienceKey]
      : undefined
  if (typeof membership !== 'boolean') {
    return {
      rejected: `membership traits_or_props["${audienceKey}"] must be true or false; got ${describeValue(membership)}`
    }
  }

  const picked = pickContextKey(payload)
  if ('problem' in picked) return { rejected: picked.problem }

  const batchSize = batchSizeOf(payload)
  if (typeof batchSize === 'string') return { rejected: batchSize }

  return {
    kind: payload.context_kind,
    batchSize,
    member: {
      userId: picked.key,
      cohortName: memo.cohortName(audienceKey),
      cohortId: audienceId,
      value: membership
    }
  }
}

/**
 * Builds the requests for a batch of payloads (`perform` passes a batch of one).
 *
 * - One request per context kind (and per `batch_size` members); audiences share requests.
 * - The last event for a (kind, audience, context key) wins; earlier ones route to its request.
 * - Members keep the order of the events that produced them.
 */
export function buildSyncRequests(payloads: readonly Payload[], options: PlanOptions): SyncPlan {
  const memo = new BatchMemo()
  return planMembers(
    payloads.map((payload) => acceptPayload(payload, memo)),
    options
  )
}

/** The planning half of buildSyncRequests, for members any action has accepted (one per event). */
export function planMembers(accepted: readonly AcceptedMember[], options: PlanOptions): SyncPlan {
  const count = accepted.length
  // The smallest configured size rules: every payload of a batch comes from one mapping anyway.
  let batchSize = MAX_BATCH_SIZE

  // The last event holding each (kind, audience ID, context key) wins. One map of context key →
  // latest event per (kind, audience), nested maps keyed by the payloads' own strings: no key is
  // built per event, and an ID's hash, once computed, stays cached on its string. Walking forwards,
  // one `set` per event both records the latest and, by the map not growing, reveals a repeat; only
  // a batch with repeats pays a second lookup per event to find each one's winner.
  const latestByKey = new Array<Map<string, number> | undefined>(count)
  const seen = new Map<string, Map<string, Map<string, number>>>()
  let duplicates = false
  // A batch's events mostly share a kind and a few audiences: the previous event's map is tried first.
  let lastKind: string | undefined
  let lastCohortId: string | undefined
  let lastByContextKey: Map<string, number> | undefined
  for (let index = 0; index < count; index++) {
    const entry = accepted[index]
    if ('rejected' in entry) continue
    if (entry.batchSize < batchSize) batchSize = entry.batchSize
    const { cohortId, userId } = entry.member
    let byContextKey = lastByContextKey
    if (byContextKey === undefined || entry.kind !== lastKind || cohortId !== lastCohortId) {
      let byAudience = seen.get(entry.kind)
      if (byAudience === undefined) seen.set(entry.kind, (byAudience = new Map()))
      byContextKey = byAudience.get(cohortId)
      if (byContextKey === undefined) byAudience.set(cohortId, (byContextKey = new Map()))
      lastKind = entry.kind
      lastCohortId = cohortId
      lastByContextKey = byContextKey
    }
    const size = byContextKey.size
    byContextKey.set(userId, index)
    if (byContextKey.size === size) duplicates = true
    latestByKey[index] = byContextKey
  }
  const winnerOf = (index: number, member: CohortMember): number =>
    duplicates ? ((latestByKey[index] as Map<string, number>).get(member.userId) ?? index) : index

  // Members in the order of their winning events; a full request is closed and the kind's next one opened.
  const requests: SegmentAudiencesBody[] = []
  const routes = new Array<EventRoute>(count)
  const openRequestByKind = new Map<string, number>()
  let openKind: string | undefined
  let openRequest: SegmentAudiencesBody | undefined
  let openIndex = -1
  for (let index = 0; index < count; index++) {
    const entry = accepted[index]
    if ('rejected' in entry) {
      routes[index] = { rejected: entry.rejected }
      continue
    }
    if (winnerOf(index, entry.member) !== index) continue
    if (openRequest === undefined || entry.kind !== openKind) {
      openKind = entry.kind
      openIndex = openRequestByKind.get(entry.kind) ?? -1
      openRequest = openIndex === -1 ? undefined : requests[openIndex]
    }
    if (openRequest === undefined || openRequest.batch.length >= batchSize) {
      openRequest = { environmentId: options.clientId, contextKind: entry.kind, batch: [] }
      openIndex = requests.push(openRequest) - 1
      openRequestByKind.set(entry.kind, openIndex)
    }
    openRequest.batch.push(entry.member)
    routes[index] = { request: openIndex, member: entry.member }
  }
  // An earlier event of a (kind, audience, context key) shares its winner's route.
  if (duplicates) {
    for (let index = 0; index < count; index++) {
      if (routes[index] === undefined) {
        routes[index] = routes[winnerOf(index, (accepted[index] as { member: CohortMember }).member)]
      }
    }
  }

  return { requests, routes }
}
