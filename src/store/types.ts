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

export interface SegmentStore extends BulkStore {
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

/** How an import's keys combine with the segment's included keys (§B7). */
export type ImportMode = 'merge' | 'replace'
/** LaunchDarkly's import statuses, in the order an import goes through them. */
export type ImportStatus = 'preparing' | 'in_progress' | 'complete' | 'stopped'

/** One import of context keys into a segment, as the store keeps it. */
export interface ImportRecord {
  id: string
  segmentKey: string
  mode: ImportMode
  status: ImportStatus
  /** Unix ms. */
  creationTime: number
  filename?: string
  /** Context keys read from the file so far (a key given twice counts twice). */
  keys: number
  /** Keys the import added to, and removed from, the segment's included keys (once applied). */
  added: number
  removed: number
  /** Why a stopped import stopped. */
  error?: string
}

export type ExportStatus = 'in_progress' | 'complete' | 'stopped'

/** One export of a segment's included keys (§B7). */
export interface ExportRecord {
  id: string
  segmentKey: string
  status: ExportStatus
  /** Unix ms. */
  creationTime: number
  /** Name of the token that asked for it. */
  initiator: string
  /** Included keys and bytes of the CSV file, measured when the export finished. */
  keys: number
  sizeBytes: number
}

/**
 * Imports and exports (§B7), beside `SegmentStore`'s sync path. An import is begun, staged and
 * applied in three steps because a multipart upload may name its `mode` only after its file:
 * staging writes nothing a reader or an SDK can see, so a file found bad halfway changes nothing.
 */
export interface BulkStore {
  /**
   * Starts an import into an existing segment: `NotFoundError` when the segment does not exist,
   * `ConflictError` while another import of that segment is running.
   */
  beginImport(
    env: EnvironmentRef,
    segmentKey: string,
    init: { id: string; mode?: ImportMode; filename?: string; now?: number }
  ): Promise<ImportRecord>
  /**
   * Stages the keys of a `preparing` import. When `keys` throws, the import is stopped with that
   * error's message, what was staged is discarded, and the error is rethrown.
   */
  stageImport(env: EnvironmentRef, importId: string, keys: AsyncIterable<string>): Promise<ImportRecord>
  /**
   * Applies a staged import (`in_progress` until it ends `complete`, or `stopped` when the segment
   * went away or the store failed): `replace` leaves the included keys exactly the staged ones,
   * `merge` adds them.
   */
  applyImport(env: EnvironmentRef, importId: string, mode: ImportMode): Promise<ImportRecord>
  /** Stops an import that has not been applied, discarding what it staged. */
  stopImport(env: EnvironmentRef, importId: string, reason: string): Promise<void>
  getImport(env: EnvironmentRef, segmentKey: string, importId: string): Promise<ImportRecord | undefined>
  /** Which of `segmentKeys` have an import running (a segment's `_importInProgress`). */
  segmentsImporting(env: EnvironmentRef, segmentKeys: readonly string[]): Promise<Set<string>>
  saveExport(env: EnvironmentRef, record: ExportRecord): Promise<void>
  getExport(env: EnvironmentRef, segmentKey: string, exportId: string): Promise<ExportRecord | undefined>
}
