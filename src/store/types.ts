/**
 * The storage contract every store (SQLite, Redis) implements. The receiver speaks only to this
 * interface; `__tests__/store/contract.ts` is the suite every implementation must pass.
 */

/** The Redis key prefix of an environment without `redisPrefix`, as in LaunchDarkly's SDKs. */
export const DEFAULT_REDIS_PREFIX = 'launchdarkly'

/** Where a segment lives: LaunchDarkly's project / environment pair. */
export interface EnvironmentRef {
  projectKey: string
  environmentKey: string
  /** Redis key prefix of this environment (big-segment layout; DEFAULT_REDIS_PREFIX when absent); ignored by SQLite. */
  redisPrefix?: string
}

/** A single membership change: include or exclude one context key. */
export interface MembershipOp {
  contextKey: string
  included: boolean
}

/** All the changes one request makes to one segment (already de-duplicated, last op wins). */
export interface SegmentChange {
  segmentKey: string
  /** Cohort name; the segment's name is set to it on every sync. */
  name: string
  /** Context kind of the request; fixed for the segment's life (a mismatch is a 409). */
  contextKind: string
  /** Integration key, stored as `_external`. */
  integrationKey: string
  /** Cohort URL, stored as `_externalLink` when given. */
  externalLink?: string
  /**
   * The cohort ID the segment key was derived from: remembered when the segment is created, and a
   * different ID arriving at the same key is a 409 naming both, with nothing of the call applied
   * (§B4). Segments created before the store remembered it take the first ID that arrives.
   */
  cohortId?: string
  ops: MembershipOp[]
}

export interface ApplyOptions {
  /** False when the token lacks `createSegment`: a change that needs a new segment is a 403. */
  allowCreate: boolean
  /** Time of the change in Unix ms (defaults to Date.now()). */
  now?: number
}

/** A segment as the read API returns it (LaunchDarkly's field names). */
export interface SegmentRecord {
  key: string
  name: string
  unbounded: true
  unboundedContextKind: string
  generation: number
  creationDate: number
  lastModifiedDate: number
  _external: string
  _externalLink?: string
  includedCount: number
  excludedCount: number
  /** Counts changes of the segment's definition (its name, its cohort link), as LaunchDarkly's `version`. */
  version: number
  /** The cohort ID the segment was created for (§B4); absent for segments older than that rule. */
  cohortId?: string
}

/** Keys to add to and remove from one of a segment's two target lists. */
export interface TargetListUpdate {
  add?: string[]
  remove?: string[]
}

/** LaunchDarkly's `SegmentUserState`: the body of `POST …/:segmentKey/contexts`. */
export interface TargetsUpdate {
  included?: TargetListUpdate
  excluded?: TargetListUpdate
}

/** A context key's place in a big segment; LaunchDarkly's SDKs let `included` win over `excluded`. */
export interface ContextMembership {
  included: boolean
  excluded: boolean
}

/** LaunchDarkly's list sort fields; `descending` for a `-` prefix. */
export type SegmentSortField = 'name' | 'creationDate' | 'lastModified'
export interface SegmentSort {
  field: SegmentSortField
  descending: boolean
}

/** What a listing is narrowed to; every given part must hold. */
export interface SegmentFilter {
  /** Case-insensitive substring of the key or the name (any one of them). */
  query?: string[]
  /** `_external` equal to one of these integration keys; `true`: any synced segment. */
  external?: string[] | true
  /** Only these keys. */
  includedKeys?: string[]
  /** Not these keys. */
  excludedKeys?: string[]
}

export interface ListOptions {
  limit: number
  offset: number
  /** Applied in order; ties are broken by key. Without it: by key. */
  sort?: SegmentSort[]
  filter?: SegmentFilter
}

export interface ApplyResult {
  /** The segments touched, after the change, in the order of the changes. */
  segments: SegmentRecord[]
}

export interface Page<T> {
  items: T[]
  totalCount: number
}

export interface SegmentStore {
  /**
   * Applies all changes of one request atomically and durably: either every change is stored
   * before the promise resolves, or none is. Throws `ConflictError` (segment exists with another
   * context kind) or `ForbiddenError` (a new segment is needed and `allowCreate` is false) having
   * changed nothing.
   */
  apply(env: EnvironmentRef, changes: SegmentChange[], options: ApplyOptions): Promise<ApplyResult>
  /**
   * Segments of an environment matching `filter`, ordered by `sort` (by key without one), one page;
   * `totalCount` counts every match.
   */
  listSegments(env: EnvironmentRef, options: ListOptions): Promise<Page<SegmentRecord>>
  getSegment(env: EnvironmentRef, segmentKey: string): Promise<SegmentRecord | undefined>
  isIncluded(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<boolean>
  /** Both target lists of one context key; both false for an unknown segment or key. */
  membership(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<ContextMembership>
  /**
   * Adds and removes keys of an existing segment's included and excluded lists atomically, as one
   * sync is applied; the segment after the change, or undefined (nothing changed) when it is absent.
   */
  updateTargets(
    env: EnvironmentRef,
    segmentKey: string,
    update: TargetsUpdate,
    options?: { now?: number }
  ): Promise<SegmentRecord | undefined>
  /**
   * Included context keys in ascending (byte-wise) order, strictly after `after` when given,
   * at most `limit` of them (all when omitted). Streamed: memory stays constant whatever the size.
   */
  members(env: EnvironmentRef, segmentKey: string, options: { after?: string; limit?: number }): AsyncIterable<string>
  /** Deletes the segment; a later sync re-creates it with generation + 1. False when absent. */
  deleteSegment(env: EnvironmentRef, segmentKey: string): Promise<boolean>
  /** Resolves when the store is reachable, rejects otherwise (used by /healthz). */
  ping(): Promise<void>
  close(): Promise<void>
}
