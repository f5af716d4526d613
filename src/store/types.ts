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
  excludedCount: number
  /** Counts changes of the segment's definition (its name, its cohort link), as LaunchDarkly's `version`. */
  version: number
  /** The cohort ID the segment was created for (§B4); absent for segments older than that rule. */
  cohortId?: string
  /** The latest recorded sync of this segment, when there is one. */
  _lastSync?: LastSync
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

export interface SegmentStore extends BulkStore, SyncHistoryStore {
  /** Which store this is, for the `store` label of the apply-duration metric. */
  readonly kind: 'sqlite' | 'redis'
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
    /** With `record`, the request's history record (counts of the included list) is written in the same transaction. */
    options?: { now?: number; record?: SyncRecordDraft }
  ): Promise<SegmentRecord | undefined>
  /**
   * Included context keys (excluded ones with `excluded`) in ascending (byte-wise) order, strictly
   * after `after` when given, at most `limit` of them (all when omitted). Streamed: memory stays
   * constant whatever the size.
   */
  members(
    env: EnvironmentRef,
    segmentKey: string,
    options: { after?: string; limit?: number; excluded?: boolean }
  ): AsyncIterable<string>
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
   * Stages the keys of a `preparing` import, given in batches of any size. When `keys` throws, the
   * import is stopped with that error's message, what was staged is discarded, and the error is rethrown.
   */
  stageImport(
    env: EnvironmentRef,
    importId: string,
    keys: AsyncIterable<readonly string[]>
  ): Promise<ImportRecord>
  /**
   * Applies a staged import (`in_progress` until it ends `complete`, or `stopped` when the segment
   * went away or the store failed): `replace` leaves the included keys exactly the staged ones,
   * `merge` adds them.
   */
  applyImport(
    env: EnvironmentRef,
    importId: string,
    mode: ImportMode,
    /**
     * With `record`, the import's sync record (its counts; `members` the file's keys) is written
     * when it completes: in its own transaction on SQLite, in the script that ends it on Redis.
     */
    options?: { record?: SyncRecordDraft }
  ): Promise<ImportRecord>
  /** Stops an import that has not been applied, discarding what it staged. */
  stopImport(env: EnvironmentRef, importId: string, reason: string): Promise<void>
  getImport(env: EnvironmentRef, segmentKey: string, importId: string): Promise<ImportRecord | undefined>
  /** Which of `segmentKeys` have an import running (a segment's `_importInProgress`). */
  segmentsImporting(env: EnvironmentRef, segmentKeys: readonly string[]): Promise<Set<string>>
  saveExport(env: EnvironmentRef, record: ExportRecord): Promise<void>
  getExport(env: EnvironmentRef, segmentKey: string, exportId: string): Promise<ExportRecord | undefined>
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
  /** Leaves the segments as they were (`_lastSync` included): a rejected request changes nothing. */
  recordSync(env: EnvironmentRef, record: SyncRecord): Promise<void>
  listSyncHistory(env: EnvironmentRef, query: SyncHistoryQuery): Promise<SyncHistoryPage>
}
