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
  ops: MembershipOp[]
}

export interface ApplyOptions {
  /** False when the token lacks `createSegment`: a change that needs a new segment is a 403. */
  allowCreate: boolean
  /** Time of the change in Unix ms (defaults to Date.now()). */
  now?: number
  /** The request's sync record, written in the same transaction as the change (none when absent). */
  record?: SyncRecordDraft
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
  /** The latest recorded sync of this segment, when there is one. */
  _lastSync?: LastSync
}

export interface ApplyResult {
  /** The segments touched, after the change, in the order of the changes. */
  segments: SegmentRecord[]
}

export interface Page<T> {
  items: T[]
  totalCount: number
}

export interface SegmentStore extends SyncHistoryStore {
  /** Which store this is, for the `store` label of the apply-duration metric. */
  readonly kind: 'sqlite' | 'redis'
  /**
   * Applies all changes of one request atomically and durably: either every change is stored
   * before the promise resolves, or none is. Throws `ConflictError` (segment exists with another
   * context kind) or `ForbiddenError` (a new segment is needed and `allowCreate` is false) having
   * changed nothing.
   */
  apply(env: EnvironmentRef, changes: SegmentChange[], options: ApplyOptions): Promise<ApplyResult>
  /** Segments of an environment ordered by key. */
  listSegments(env: EnvironmentRef, page: { limit: number; offset: number }): Promise<Page<SegmentRecord>>
  getSegment(env: EnvironmentRef, segmentKey: string): Promise<SegmentRecord | undefined>
  isIncluded(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<boolean>
  /**
   * Included context keys in ascending (byte-wise) order, strictly after `after` when given,
   * at most `limit` of them (all when omitted). Streamed: memory stays constant whatever the size.
   */
  members(env: EnvironmentRef, segmentKey: string, options: { after?: string; limit?: number }): AsyncIterable<string>
  /**
   * Deletes the segment; a later sync re-creates it with generation + 1. False when absent. With a
   * record, the delete's history (its members as `removed`) is written in the same transaction.
   */
  deleteSegment(
    env: EnvironmentRef,
    segmentKey: string,
    options?: { record?: SyncRecordDraft }
  ): Promise<boolean>
  /** Unix ms of the environment's last write (Redis: `big_segments_synchronized_on`), if any. */
  synchronizedOn(env: EnvironmentRef): Promise<number | undefined>
  /** Resolves when the store is reachable, rejects otherwise (used by /healthz). */
  ping(): Promise<void>
  close(): Promise<void>
}

// ——— Sync history (SPEC §F) ———

/** The write endpoint a sync record comes from. */
export type SyncOperation = 'segment-targets' | 'contexts' | 'import' | 'delete'

export type SyncStatus = 'success' | 'error'

/** What one request did to one segment. Counts are after the request's own de-duplication. */
export interface SyncSegmentCounts {
  segmentKey: string
  /** Context keys not included before and included now. */
  added: number
  /** Context keys included before and not now. */
  removed: number
  /** Ops that changed nothing: re-adds of included keys, removes of absent ones. */
  unchanged: number
}

/**
 * One request to a write endpoint whose token was recognised, as the history keeps it. Never holds
 * a member ID or a token.
 */
export interface SyncRecord {
  /** The receiver's id of the request (also in its log). */
  requestId: string
  /** When the request arrived, Unix ms. */
  time: number
  operation: SyncOperation
  /** Integration key ('' for endpoints without one, e.g. a delete through the REST API). */
  integration: string
  /** The token's name from the configuration, never its value. */
  tokenName: string
  projectKey: string
  environmentKey: string
  segments: SyncSegmentCounts[]
  /** Membership ops in the request (after de-duplication). */
  members: number
  status: SyncStatus
  /** The HTTP status the request was answered with. */
  statusCode: number
  /** Present when status is 'error': the code and message the client was sent. */
  error?: { code: string; message: string }
  /** From the request's arrival to its record being written (for a 2xx, to its commit). */
  durationMs: number
}

/**
 * A 2xx's record as the route knows it before applying; the store fills in the project, the
 * environment, the segments' counts, `members`, `status` ('success') and `durationMs` (to the commit)
 * in the same transaction as the change.
 */
export interface SyncRecordDraft {
  requestId: string
  time: number
  operation: SyncOperation
  integration: string
  tokenName: string
  statusCode: number
}

/** The segment's latest recorded sync, on `SegmentRecord._lastSync`. */
export interface LastSync {
  time: number
  status: SyncStatus
  added: number
  removed: number
}

export interface SyncHistoryQuery {
  /** Only records that touched this segment. */
  segmentKey?: string
  integration?: string
  status?: SyncStatus
  limit: number
  /** The `next` of the previous page. */
  after?: string
}

export interface SyncHistoryPage {
  /** Newest first. */
  items: SyncRecord[]
  /** Cursor of the next (older) page; null when this is the last. */
  next: string | null
}

/** Default number of records kept per environment. */
export const DEFAULT_HISTORY_RETENTION = 10_000

/**
 * The history side of a store. `ApplyOptions.record` (and `deleteSegment`'s) writes a 2xx's record
 * in the change's own transaction; `recordSync` writes a rejected request's, with no change.
 */
export interface SyncHistoryStore {
  recordSync(env: EnvironmentRef, record: SyncRecord): Promise<void>
  listSyncHistory(env: EnvironmentRef, query: SyncHistoryQuery): Promise<SyncHistoryPage>
}
