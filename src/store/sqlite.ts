/**
 * The embedded default store: one SQLite file (better-sqlite3) in the data directory.
 *
 * Layout: `segments` holds one row per live segment; `members` holds one row per included context
 * key, keyed (segment_id, context_key) in a WITHOUT ROWID table, so membership lookups, cursor
 * listings and per-segment deletes are primary-key reads. `included_count` is kept on the segment
 * row, maintained from the rows each statement really inserted or deleted.
 *
 * Excluded context keys (LaunchDarkly's `excluded` list, §B7) live in `excluded_members`, laid out
 * like `members`, counted in `excluded_count`. A segment remembers the cohort ID it was created for
 * (`cohort_id`, §B4), so a second cohort arriving at the same key is refused.
 *
 * Deleting a segment removes its one `segments` row, remembers its generation in
 * `segment_tombstones` (the next sync re-creates it with generation + 1) and queues its id in
 * `dropped_segments`; the orphaned member rows are purged afterwards in small batches, so deleting a
 * segment of a million members is as cheap as deleting an empty one. Segment ids are AUTOINCREMENT,
 * never reused, so a re-created segment can never see its predecessor's orphans.
 */
import Database from 'better-sqlite3'
import { rmSync } from 'node:fs'
// The module's own timers, not the globals: tests that fake global timers must not stall commits.
import { clearTimeout, setImmediate, setTimeout } from 'node:timers'
import { ConflictError, ForbiddenError, HttpError, StoreUnavailableError } from '../errors'
import { cohortConflict } from './conflicts'
import {
  ABANDONED,
  importRunning,
  isRunning,
  JOB_RETENTION_MS,
  newImportRecord,
  segmentMissing,
  sqliteStagingPrefix,
  unknownImport
} from './bulk'
import { stageKeys } from './staging'
import {
  HistoryPruner,
  importRecord,
  parseCursor,
  successRecord,
  targetsRecord,
  type HistoryOptions
} from './history'
import {
  DEFAULT_HISTORY_RETENTION,
  type ApplyOptions,
  type ApplyResult,
  type ContextMembership,
  type EnvironmentRef,
  type ExportRecord,
  type ImportMode,
  type ImportRecord,
  type ListOptions,
  type MembershipOp,
  type Page,
  type SegmentChange,
  type SegmentFilter,
  type SegmentRecord,
  type SegmentSortField,
  type SegmentStore,
  type SyncHistoryPage,
  type SyncHistoryQuery,
  type SyncOperation,
  type SyncRecord,
  type SyncRecordDraft,
  type SyncSegmentCounts,
  type SyncStatus,
  type TargetListUpdate,
  type TargetsUpdate
} from './types'

/** Schema steps; `user_version` is the number applied. Append a step to migrate, never edit one. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_key TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    segment_key TEXT NOT NULL,
    name TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    generation INTEGER NOT NULL,
    creation_date INTEGER NOT NULL,
    last_modified_date INTEGER NOT NULL,
    external TEXT NOT NULL,
    external_link TEXT,
    included_count INTEGER NOT NULL DEFAULT 0 CHECK (included_count >= 0),
    UNIQUE (project_key, environment_key, segment_key)
  );
  CREATE TABLE members (
    segment_id INTEGER NOT NULL,
    context_key TEXT NOT NULL,
    PRIMARY KEY (segment_id, context_key)
  ) WITHOUT ROWID;
  CREATE TABLE segment_tombstones (
    project_key TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    segment_key TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (project_key, environment_key, segment_key)
  ) WITHOUT ROWID;
  CREATE TABLE dropped_segments (segment_id INTEGER PRIMARY KEY);
  `,
  `
  ALTER TABLE segments ADD COLUMN cohort_id TEXT;
  ALTER TABLE segments ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE segments ADD COLUMN excluded_count INTEGER NOT NULL DEFAULT 0 CHECK (excluded_count >= 0);
  CREATE TABLE excluded_members (
    segment_id INTEGER NOT NULL,
    context_key TEXT NOT NULL,
    PRIMARY KEY (segment_id, context_key)
  ) WITHOUT ROWID;
  `,
  // The sync history (SPEC §F), and each segment's latest sync on its own row.
  `
  CREATE TABLE sync_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    project_key TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    request_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    operation TEXT NOT NULL,
    integration TEXT NOT NULL,
    token_name TEXT NOT NULL,
    segments TEXT NOT NULL,
    members INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    duration_ms INTEGER NOT NULL
  );
  CREATE INDEX sync_history_by_environment ON sync_history (project_key, environment_key, seq);
  ALTER TABLE segments ADD COLUMN last_sync_time INTEGER;
  ALTER TABLE segments ADD COLUMN last_sync_status TEXT;
  ALTER TABLE segments ADD COLUMN last_sync_added INTEGER;
  ALTER TABLE segments ADD COLUMN last_sync_removed INTEGER;
  `,
  // Imports and exports (§B7): one JSON record per job. IF NOT EXISTS, so the step is harmless in
  // whatever order it lands among other branches' steps.
  `
  CREATE TABLE IF NOT EXISTS segment_jobs (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    project_key TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    segment_key TEXT NOT NULL,
    creation_time INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  ) WITHOUT ROWID;
  `
]

/** Rows per page of `members()`: big enough to amortise the query, small enough for constant memory. */
const MEMBER_PAGE_SIZE = 1000
/**
 * Applies waiting in the same event-loop turn commit together (group commit), up to this many ops:
 * one fsync and one write of each touched page instead of one per request, without holding the
 * event loop for long.
 */
const GROUP_COMMIT_MAX_OPS = 10_000
/** Orphaned member rows removed per purge transaction, so a purge step never stalls requests. */
const PURGE_BATCH_SIZE = 5000

/**
 * FULL (the default) syncs the WAL on every commit: an acknowledged change survives power loss as
 * well as kill -9. NORMAL syncs only at checkpoints: it survives kill -9 (the OS has the data) but
 * may lose the last commits on power loss. Measured on the 2-core VM, 200 applies of 1000 ops,
 * FULL / NORMAL in members/s: ascending keys one at a time 0.6-1.0M / 1.4-1.5M, 8 concurrent
 * (group commit) 1.3-2.2M / 1.9-2.5M; random UUIDs 120-145k / 130-140k, 8 concurrent 270-280k /
 * 330k (random keys are bound by page writes either way). FULL is well above the receiver's
 * target, so durability wins; NORMAL is there for whoever measures otherwise on their disk.
 */
export type SqliteSynchronous = 'FULL' | 'NORMAL'

export interface SqliteStoreOptions extends HistoryOptions {
  /** The database file; created with its schema when missing. */
  path: string
  synchronous?: SqliteSynchronous
}

interface PendingApply {
  env: EnvironmentRef
  changes: SegmentChange[]
  options: ApplyOptions
  resolve: (result: ApplyResult) => void
  reject: (error: unknown) => void
}

type Outcome = { result: ApplyResult } | { error: unknown }

interface PendingRecord {
  env: EnvironmentRef
  record: SyncRecord
  resolve: () => void
  reject: (error: unknown) => void
}

interface SegmentRow {
  id: number
  segment_key: string
  name: string
  context_kind: string
  generation: number
  creation_date: number
  last_modified_date: number
  external: string
  external_link: string | null
  included_count: number
  excluded_count: number
  version: number
  cohort_id: string | null
  last_sync_time?: number | null
  last_sync_status?: string | null
  last_sync_added?: number | null
  last_sync_removed?: number | null
}

const SEGMENT_COLUMNS = `id, segment_key, name, context_kind, generation, creation_date, last_modified_date,
  external, external_link, included_count, excluded_count, version, cohort_id, last_sync_time, last_sync_status, last_sync_added,
  last_sync_removed`

/** Columns of LaunchDarkly's sort fields; ties are broken by key. */
const SORT_COLUMNS: Record<SegmentSortField, string> = {
  name: 'name',
  creationDate: 'creation_date',
  lastModified: 'last_modified_date'
}

/** The WHERE clause of a filtered listing and its parameters; lists go in as JSON arrays. */
function filterClause(filter: SegmentFilter | undefined): { sql: string; params: string[] } {
  const parts: string[] = []
  const params: string[] = []
  if (filter?.query !== undefined) {
    parts.push(`EXISTS (SELECT 1 FROM json_each(?) WHERE instr(lower(segment_key), lower(value)) > 0
      OR instr(lower(name), lower(value)) > 0)`)
    params.push(JSON.stringify(filter.query))
  }
  if (Array.isArray(filter?.external)) {
    parts.push('external IN (SELECT value FROM json_each(?))')
    params.push(JSON.stringify(filter.external))
  }
  if (filter?.includedKeys !== undefined) {
    parts.push('segment_key IN (SELECT value FROM json_each(?))')
    params.push(JSON.stringify(filter.includedKeys))
  }
  if (filter?.excludedKeys !== undefined) {
    parts.push('segment_key NOT IN (SELECT value FROM json_each(?))')
    params.push(JSON.stringify(filter.excludedKeys))
  }
  // `external: true` (any synced segment) holds for every segment here: each has an integration.
  return { sql: parts.map((part) => ` AND ${part}`).join(''), params }
}

interface HistoryRow {
  seq: number
  request_id: string
  time: number
  operation: string
  integration: string
  token_name: string
  project_key: string
  environment_key: string
  segments: string
  members: number
  status: string
  status_code: number
  error_code: string | null
  error_message: string | null
  duration_ms: number
}

function toSyncRecord(row: HistoryRow): SyncRecord {
  const record: SyncRecord = {
    requestId: row.request_id,
    time: row.time,
    operation: row.operation as SyncOperation,
    integration: row.integration,
    tokenName: row.token_name,
    projectKey: row.project_key,
    environmentKey: row.environment_key,
    segments: JSON.parse(row.segments) as SyncSegmentCounts[],
    members: row.members,
    status: row.status as SyncStatus,
    statusCode: row.status_code,
    durationMs: row.duration_ms
  }
  if (row.error_code !== null) record.error = { code: row.error_code, message: row.error_message ?? '' }
  return record
}

function toRecord(row: SegmentRow): SegmentRecord {
  const record: SegmentRecord = {
    key: row.segment_key,
    name: row.name,
    unbounded: true,
    unboundedContextKind: row.context_kind,
    generation: row.generation,
    creationDate: row.creation_date,
    lastModifiedDate: row.last_modified_date,
    _external: row.external,
    includedCount: row.included_count,
    excludedCount: row.excluded_count,
    version: row.version
  }
  if (row.external_link !== null) record._externalLink = row.external_link
  if (row.cohort_id !== null) record.cohortId = row.cohort_id
  if (row.last_sync_time != null) {
    record._lastSync = {
      time: row.last_sync_time,
      status: row.last_sync_status as SyncStatus,
      added: row.last_sync_added ?? 0,
      removed: row.last_sync_removed ?? 0
    }
  }
  return record
}

/**
 * The keys to add and to remove. Ops arrive de-duplicated, but when a change both adds and removes,
 * a key in both lists would depend on which statement runs last, so the last op on a key wins here.
 */
function splitOps(ops: MembershipOp[]): { adds: string[]; removes: string[] } {
  const adds: string[] = []
  const removes: string[] = []
  for (const op of ops) (op.included ? adds : removes).push(op.contextKey)
  if (adds.length === 0 || removes.length === 0) return { adds, removes }

  const last = new Map<string, boolean>()
  for (const op of ops) last.set(op.contextKey, op.included)
  adds.length = 0
  removes.length = 0
  for (const [contextKey, included] of last) (included ? adds : removes).push(contextKey)
  return { adds, removes }
}

/**
 * SQLite failures (locked, disk full, I/O) and a closed connection mean the store is unavailable:
 * a 503, not a 500. Typed errors and programming errors pass through.
 */
function unavailable(db: Database.Database, error: unknown): unknown {
  if (error instanceof HttpError) return error
  if (!db.open) return new StoreUnavailableError('SQLite store is closed')
  if (error instanceof Database.SqliteError)
    return new StoreUnavailableError(`SQLite store unavailable: ${error.message}`)
  return error
}

/** Every statement the store runs; exported so the tests can check their query plans. */
export const SQL = {
  segment: `SELECT ${SEGMENT_COLUMNS} FROM segments WHERE project_key = ? AND environment_key = ? AND segment_key = ?`,
  tombstone:
    'SELECT generation FROM segment_tombstones WHERE project_key = ? AND environment_key = ? AND segment_key = ?',
  dropTombstone:
    'DELETE FROM segment_tombstones WHERE project_key = ? AND environment_key = ? AND segment_key = ?',
  insertSegment: `INSERT INTO segments (project_key, environment_key, segment_key, name, context_kind, generation,
    creation_date, last_modified_date, external, external_link, cohort_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  touchSegment: `UPDATE segments SET name = ?, last_modified_date = ?, external_link = coalesce(?, external_link),
    included_count = included_count + ?, version = version + ?, cohort_id = coalesce(cohort_id, ?) WHERE id = ?`,
  touchTargets: `UPDATE segments SET last_modified_date = ?, included_count = included_count + ?,
    excluded_count = excluded_count + ? WHERE id = ?`,
  addExcluded:
    'INSERT OR IGNORE INTO excluded_members (segment_id, context_key) SELECT ?, value FROM json_each(?)',
  removeExcluded:
    'DELETE FROM excluded_members WHERE segment_id = ? AND context_key IN (SELECT value FROM json_each(?))',
  isExcluded: `SELECT 1 FROM excluded_members WHERE segment_id =
    (SELECT id FROM segments WHERE project_key = ? AND environment_key = ? AND segment_key = ?)
    AND context_key = ?`,
  // Keys go in as one JSON array: one native call per change instead of one per member (3x less CPU).
  addMembers: 'INSERT OR IGNORE INTO members (segment_id, context_key) SELECT ?, value FROM json_each(?)',
  removeMembers:
    'DELETE FROM members WHERE segment_id = ? AND context_key IN (SELECT value FROM json_each(?))',
  isMember: `SELECT 1 FROM members WHERE segment_id =
    (SELECT id FROM segments WHERE project_key = ? AND environment_key = ? AND segment_key = ?)
    AND context_key = ?`,
  segmentId: 'SELECT id FROM segments WHERE project_key = ? AND environment_key = ? AND segment_key = ?',
  firstMembers: 'SELECT context_key FROM members WHERE segment_id = ? ORDER BY context_key LIMIT ?',
  nextMembers:
    'SELECT context_key FROM members WHERE segment_id = ? AND context_key > ? ORDER BY context_key LIMIT ?',
  firstExcluded: 'SELECT context_key FROM excluded_members WHERE segment_id = ? ORDER BY context_key LIMIT ?',
  nextExcluded:
    'SELECT context_key FROM excluded_members WHERE segment_id = ? AND context_key > ? ORDER BY context_key LIMIT ?',
  listSegments: `SELECT ${SEGMENT_COLUMNS} FROM segments WHERE project_key = ? AND environment_key = ?
    ORDER BY segment_key LIMIT ? OFFSET ?`,
  countSegments: 'SELECT count(*) FROM segments WHERE project_key = ? AND environment_key = ?',
  deleteSegment: 'DELETE FROM segments WHERE id = ?',
  upsertTombstone: `INSERT INTO segment_tombstones (project_key, environment_key, segment_key, generation) VALUES (?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET generation = excluded.generation`,
  queueDrop: 'INSERT INTO dropped_segments (segment_id) VALUES (?)',
  nextDropped: 'SELECT segment_id FROM dropped_segments LIMIT 1',
  purgeMembers: `DELETE FROM members WHERE segment_id = ? AND context_key IN
    (SELECT context_key FROM members WHERE segment_id = ? ORDER BY context_key LIMIT ?)`,
  purgeExcluded: `DELETE FROM excluded_members WHERE segment_id = ? AND context_key IN
    (SELECT context_key FROM excluded_members WHERE segment_id = ? ORDER BY context_key LIMIT ?)`,
  unqueueDrop: 'DELETE FROM dropped_segments WHERE segment_id = ?',
  ping: 'SELECT 1',
  insertHistory: `INSERT INTO sync_history (project_key, environment_key, request_id, time, operation, integration,
    token_name, segments, members, status, status_code, error_code, error_message, duration_ms)
    VALUES (@projectKey, @environmentKey, @requestId, @time, @operation, @integration, @tokenName, @segments,
    @members, @status, @statusCode, @errorCode, @errorMessage, @durationMs)`,
  setLastSyncById:
    'UPDATE segments SET last_sync_time = ?, last_sync_status = ?, last_sync_added = ?, last_sync_removed = ? WHERE id = ?',
  // Newest first along the environment's index; the filters are checked on the rows the index yields.
  listHistory: `SELECT * FROM sync_history WHERE project_key = @projectKey AND environment_key = @environmentKey
    AND seq < @after
    AND (@status IS NULL OR status = @status)
    AND (@integration IS NULL OR integration = @integration)
    AND (@segmentKey IS NULL OR EXISTS
      (SELECT 1 FROM json_each(segments) WHERE json_extract(value, '$.segmentKey') = @segmentKey))
    ORDER BY seq DESC LIMIT @limit`,
  pruneHistory: `DELETE FROM sync_history WHERE project_key = @projectKey AND environment_key = @environmentKey
    AND seq <= (SELECT seq FROM sync_history WHERE project_key = @projectKey AND environment_key = @environmentKey
    ORDER BY seq DESC LIMIT 1 OFFSET @retention)`,
  synchronizedOn: 'SELECT max(last_modified_date) FROM segments WHERE project_key = ? AND environment_key = ?'
} as const

/** Statements of imports and exports (§B7). */
const BULK_SQL = {
  saveJob: `INSERT OR REPLACE INTO segment_jobs (kind, id, project_key, environment_key, segment_key, creation_time, body)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  job: `SELECT body FROM segment_jobs WHERE kind = ? AND id = ? AND project_key = ? AND environment_key = ?
    AND segment_key = ?`,
  pruneJobs: 'DELETE FROM segment_jobs WHERE creation_time < ?',
  importedSegment: `UPDATE segments SET included_count = included_count + ?, last_modified_date = ? WHERE id = ?`
} as const

function prepareBulkStatements(db: Database.Database) {
  return {
    saveJob: db.prepare<[string, string, string, string, string, number, string]>(BULK_SQL.saveJob),
    job: db.prepare<[string, string, string, string, string], string>(BULK_SQL.job).pluck(),
    pruneJobs: db.prepare<[number]>(BULK_SQL.pruneJobs),
    importedSegment: db.prepare<[number, number, number]>(BULK_SQL.importedSegment)
  }
}

/** An import this store instance is running: its record, segment row and staging table. */
interface RunningImport {
  env: EnvironmentRef
  record: ImportRecord
  segmentId: number
  /** The staging file holding the keys, once staging began. */
  file?: string
}

interface HistoryParams {
  projectKey: string
  environmentKey: string
  requestId: string
  time: number
  operation: string
  integration: string
  tokenName: string
  segments: string
  members: number
  status: string
  statusCode: number
  errorCode: string | null
  errorMessage: string | null
  durationMs: number
}

interface HistoryQueryParams {
  projectKey: string
  environmentKey: string
  after: number
  status: string | null
  integration: string | null
  segmentKey: string | null
  limit: number
}

/** Every statement, prepared once at open. */
function prepareStatements(db: Database.Database) {
  return {
    segment: db.prepare<[string, string, string], SegmentRow>(SQL.segment),
    tombstone: db.prepare<[string, string, string], { generation: number }>(SQL.tombstone),
    dropTombstone: db.prepare<[string, string, string]>(SQL.dropTombstone),
    insertSegment: db.prepare<
      [string, string, string, string, string, number, number, number, string, string | null, string | null]
    >(SQL.insertSegment),
    touchSegment: db.prepare<[string, number, string | null, number, number, string | null, number]>(
      SQL.touchSegment
    ),
    touchTargets: db.prepare<[number, number, number, number]>(SQL.touchTargets),
    addExcluded: db.prepare<[number, string]>(SQL.addExcluded),
    removeExcluded: db.prepare<[number, string]>(SQL.removeExcluded),
    isExcluded: db.prepare<[string, string, string, string], number>(SQL.isExcluded).pluck(),
    addMembers: db.prepare<[number, string]>(SQL.addMembers),
    removeMembers: db.prepare<[number, string]>(SQL.removeMembers),
    isMember: db.prepare<[string, string, string, string], number>(SQL.isMember).pluck(),
    segmentId: db.prepare<[string, string, string], number>(SQL.segmentId).pluck(),
    firstMembers: db.prepare<[number, number], string>(SQL.firstMembers).pluck(),
    nextMembers: db.prepare<[number, string, number], string>(SQL.nextMembers).pluck(),
    firstExcluded: db.prepare<[number, number], string>(SQL.firstExcluded).pluck(),
    nextExcluded: db.prepare<[number, string, number], string>(SQL.nextExcluded).pluck(),
    listSegments: db.prepare<[string, string, number, number], SegmentRow>(SQL.listSegments),
    countSegments: db.prepare<[string, string], number>(SQL.countSegments).pluck(),
    deleteSegment: db.prepare<[number]>(SQL.deleteSegment),
    upsertTombstone: db.prepare<[string, string, string, number]>(SQL.upsertTombstone),
    queueDrop: db.prepare<[number]>(SQL.queueDrop),
    nextDropped: db.prepare<[], number>(SQL.nextDropped).pluck(),
    purgeMembers: db.prepare<[number, number, number]>(SQL.purgeMembers),
    purgeExcluded: db.prepare<[number, number, number]>(SQL.purgeExcluded),
    unqueueDrop: db.prepare<[number]>(SQL.unqueueDrop),
    ping: db.prepare(SQL.ping).pluck(),
    insertHistory: db.prepare<[HistoryParams]>(SQL.insertHistory),
    setLastSyncById: db.prepare<[number, string, number, number, number]>(SQL.setLastSyncById),
    listHistory: db.prepare<[HistoryQueryParams], HistoryRow>(SQL.listHistory),
    pruneHistory: db.prepare<[{ projectKey: string; environmentKey: string; retention: number }]>(
      SQL.pruneHistory
    ),
    synchronizedOn: db.prepare<[string, string], number | null>(SQL.synchronizedOn).pluck()
  }
}

export class SqliteSegmentStore implements SegmentStore {
  readonly kind = 'sqlite'
  private readonly db: Database.Database
  private readonly stmt: ReturnType<typeof prepareStatements>
  private readonly applyTx: (
    env: EnvironmentRef,
    changes: SegmentChange[],
    options: ApplyOptions
  ) => ApplyResult
  private readonly groupTx: Database.Transaction<(group: PendingApply[]) => Outcome[]>
  private readonly deleteTx: Database.Transaction<
    (env: EnvironmentRef, segmentKey: string, draft: SyncRecordDraft | undefined) => boolean
  >
  private readonly recordTx: Database.Transaction<(records: PendingRecord[]) => void>
  private readonly pruner: HistoryPruner
  private readonly pendingRecords: PendingRecord[] = []
  private recordFlushScheduled = false
  private readonly listTx: Database.Transaction<
    (env: EnvironmentRef, options: ListOptions) => Page<SegmentRecord>
  >
  private readonly targetsTx: Database.Transaction<
    (
      env: EnvironmentRef,
      segmentKey: string,
      update: TargetsUpdate,
      now: number,
      draft?: SyncRecordDraft
    ) => SegmentRecord | undefined
  >
  /** Listing statements by their SQL: one per sort and filter shape, prepared on first use. */
  private readonly listStatements = new Map<string, Database.Statement>()
  private readonly purgeTx: Database.Transaction<(maxRows: number) => number>
  private readonly bulk: ReturnType<typeof prepareBulkStatements>
  /** Import staging files go beside the database file, their names starting with this. */
  private readonly stagingPrefix: string
  /** Imports run by this instance; one SQLite file has one receiver, so the others are abandoned. */
  private readonly runningImports = new Map<string, RunningImport>()
  private stagingTables = 0
  private pending: PendingApply[] = []
  private flushScheduled = false
  private purgeTimer: NodeJS.Timeout | undefined

  constructor(path: string, options: { synchronous?: SqliteSynchronous } & HistoryOptions = {}) {
    this.db = new Database(path)
    try {
      this.configure(options.synchronous ?? 'FULL')
      this.migrate()
    } catch (error) {
      // A refused or unusable file (newer schema, read-only, locked) must not keep its handle open.
      this.db.close()
      throw error
    }

    this.stmt = prepareStatements(this.db)
    this.bulk = prepareBulkStatements(this.db)
    this.stagingPrefix = sqliteStagingPrefix(path)

    this.applyTx = this.db.transaction(
      (env: EnvironmentRef, changes: SegmentChange[], options: ApplyOptions) =>
        this.applyChanges(env, changes, options)
    )
    this.groupTx = this.db.transaction((group: PendingApply[]) => group.map((item) => this.applyOne(item)))
    this.deleteTx = this.db.transaction(
      (env: EnvironmentRef, segmentKey: string, draft: SyncRecordDraft | undefined) =>
        this.deleteOne(env, segmentKey, draft)
    )
    this.recordTx = this.db.transaction((records: PendingRecord[]) => {
      for (const { env, record } of records) this.writeRecord(env, record)
    })
    this.pruner = new HistoryPruner(options, DEFAULT_HISTORY_RETENTION, (env, retention) => {
      if (this.db.open)
        this.stmt.pruneHistory.run({
          projectKey: env.projectKey,
          environmentKey: env.environmentKey,
          retention
        })
    })
    // One read transaction, so the page and the total come from the same snapshot.
    this.listTx = this.db.transaction((env: EnvironmentRef, options: ListOptions) =>
      this.listPage(env, options)
    )
    this.targetsTx = this.db.transaction(
      (
        env: EnvironmentRef,
        segmentKey: string,
        update: TargetsUpdate,
        now: number,
        draft?: SyncRecordDraft
      ) => this.updateTargetsOne(env, segmentKey, update, now, draft)
    )
    this.purgeTx = this.db.transaction((maxRows: number) => this.purgeBatch(maxRows))
    this.schedulePurge()
  }

  private configure(synchronous: SqliteSynchronous): void {
    this.db.pragma('journal_mode = WAL')
    this.db.pragma(`synchronous = ${synchronous}`)
    // Another process (the CLI, a second receiver by mistake) waits for the lock instead of failing.
    this.db.pragma('busy_timeout = 5000')
    this.db.pragma('temp_store = MEMORY')
    this.db.pragma('cache_size = -32768')
    // A request of 1000 random context keys dirties ~1000 pages; checkpointing every 1000 pages (the
    // default) would copy them back on nearly every commit. Measured: ~1.5x faster on random keys.
    this.db.pragma('wal_autocheckpoint = 10000')
    this.db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`)
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number
    if (current > MIGRATIONS.length) {
      throw new Error(
        `SQLite store schema version ${current} is newer than this program supports (${MIGRATIONS.length})`
      )
    }
    this.db.transaction(() => {
      for (let version = current; version < MIGRATIONS.length; version++) {
        this.db.exec(MIGRATIONS[version])
        this.db.pragma(`user_version = ${version + 1}`)
      }
    })()
  }

  /**
   * One request inside the group's transaction: a nested transaction is a savepoint, so a rejected
   * request is rolled back alone and the others still commit.
   */
  private applyOne({ env, changes, options }: PendingApply): Outcome {
    try {
      return { result: this.applyTx(env, changes, options) }
    } catch (error) {
      // SQLite may have rolled back the whole transaction (disk full, I/O error); going on would run
      // the next requests outside it, committing them one by one. Fail the whole group instead.
      if (!this.db.inTransaction) throw error
      return { error }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => this.flush())
  }

  /** Commits the waiting applies as one transaction, then settles each one's promise. */
  private flush(): void {
    this.flushScheduled = false
    let count = 0
    let ops = 0
    while (count < this.pending.length && (count === 0 || ops < GROUP_COMMIT_MAX_OPS)) {
      for (const change of this.pending[count].changes) ops += change.ops.length
      count += 1
    }
    const group = this.pending.splice(0, count)
    if (this.pending.length > 0) this.scheduleFlush()
    if (group.length === 0) return

    let outcomes: Outcome[]
    try {
      // IMMEDIATE takes the write lock up front, so another process makes us wait (busy_timeout)
      // rather than fail halfway when a read lock cannot be upgraded.
      outcomes = this.groupTx.immediate(group)
    } catch (error) {
      const failure = unavailable(this.db, error)
      for (const item of group) item.reject(failure)
      return
    }
    group.forEach((item, i) => {
      const outcome = outcomes[i]
      if ('result' in outcome) item.resolve(outcome.result)
      else item.reject(unavailable(this.db, outcome.error))
    })
  }

  private applyChanges(env: EnvironmentRef, changes: SegmentChange[], options: ApplyOptions): ApplyResult {
    const { projectKey, environmentKey } = env
    const now = options.now ?? Date.now()
    const s = this.stmt
    const segments: SegmentRecord[] = []
    const counts: SyncSegmentCounts[] = []
    const segmentIds: number[] = []

    for (const change of changes) {
      let row = s.segment.get(projectKey, environmentKey, change.segmentKey)
      if (row === undefined) {
        if (!options.allowCreate) {
          throw new ForbiddenError(
            `Segment ${change.segmentKey} does not exist and the token may not create segments (createSegment)`
          )
        }
        const previous = s.tombstone.get(projectKey, environmentKey, change.segmentKey)
        const generation = (previous?.generation ?? 0) + 1
        if (previous !== undefined) s.dropTombstone.run(projectKey, environmentKey, change.segmentKey)
        const externalLink = change.externalLink ?? null
        const { lastInsertRowid } = s.insertSegment.run(
          projectKey,
          environmentKey,
          change.segmentKey,
          change.name,
          change.contextKind,
          generation,
          now,
          now,
          change.integrationKey,
          externalLink,
          change.cohortId ?? null
        )
        row = {
          id: Number(lastInsertRowid),
          segment_key: change.segmentKey,
          name: change.name,
          context_kind: change.contextKind,
          generation,
          creation_date: now,
          last_modified_date: now,
          external: change.integrationKey,
          external_link: externalLink,
          included_count: 0,
          excluded_count: 0,
          version: 1,
          cohort_id: change.cohortId ?? null
        }
      } else if (row.context_kind !== change.contextKind) {
        throw new ConflictError(
          `Segment ${change.segmentKey} has context kind ${row.context_kind}, not ${change.contextKind}`
        )
      } else if (
        change.cohortId !== undefined &&
        row.cohort_id !== null &&
        row.cohort_id !== change.cohortId
      ) {
        throw cohortConflict(change.segmentKey, row.cohort_id, change.cohortId)
      }

      const id = row.id
      segmentIds.push(id)
      const { adds, removes } = splitOps(change.ops)
      // changes() counts only rows really inserted or deleted, so re-adds and absent removes are free.
      const added = adds.length > 0 ? s.addMembers.run(id, JSON.stringify(adds)).changes : 0
      const removed = removes.length > 0 ? s.removeMembers.run(id, JSON.stringify(removes)).changes : 0
      const delta = added - removed
      const redefined =
        row.name !== change.name ||
        (change.externalLink !== undefined && change.externalLink !== row.external_link)
      const versionDelta = redefined ? 1 : 0
      s.touchSegment.run(
        change.name,
        now,
        change.externalLink ?? null,
        delta,
        versionDelta,
        change.cohortId ?? null,
        id
      )
      counts.push({
        segmentKey: change.segmentKey,
        added,
        removed,
        unchanged: adds.length + removes.length - added - removed
      })
      segments.push(
        toRecord({
          ...row,
          name: change.name,
          last_modified_date: now,
          external_link: change.externalLink ?? row.external_link,
          included_count: row.included_count + delta,
          version: row.version + versionDelta,
          cohort_id: row.cohort_id ?? change.cohortId ?? null
        })
      )
    }
    if (options.record) {
      const record = successRecord(options.record, env, counts, Date.now())
      this.writeRecord(env, record, segmentIds)
      segments.forEach((segment, i) => {
        segment._lastSync = {
          time: record.time,
          status: 'success',
          added: counts[i].added,
          removed: counts[i].removed
        }
      })
    }
    return { segments }
  }

  /** Writes a record, and an apply's `_lastSync` on its segments' rows, inside the caller's transaction. */
  private writeRecord(env: EnvironmentRef, record: SyncRecord, segmentIds?: number[]): void {
    const { projectKey, environmentKey } = env
    this.stmt.insertHistory.run({
      projectKey,
      environmentKey,
      requestId: record.requestId,
      time: record.time,
      operation: record.operation,
      integration: record.integration,
      tokenName: record.tokenName,
      segments: JSON.stringify(record.segments),
      members: record.members,
      status: record.status,
      statusCode: record.statusCode,
      errorCode: record.error?.code ?? null,
      errorMessage: record.error?.message ?? null,
      durationMs: Math.round(record.durationMs)
    })
    // Only an applied change marks its segments; a rejection (and a delete) leaves them as they were.
    segmentIds?.forEach((id, i) => {
      const counts = record.segments[i]
      this.stmt.setLastSyncById.run(record.time, record.status, counts.added, counts.removed, id)
    })
    this.pruner.touched(env)
  }

  private deleteOne(env: EnvironmentRef, segmentKey: string, draft: SyncRecordDraft | undefined): boolean {
    const s = this.stmt
    const row = s.segment.get(env.projectKey, env.environmentKey, segmentKey)
    if (row === undefined) return false
    s.deleteSegment.run(row.id)
    s.upsertTombstone.run(env.projectKey, env.environmentKey, segmentKey, row.generation)
    if (row.included_count > 0 || row.excluded_count > 0) s.queueDrop.run(row.id)
    if (draft) {
      const counts = { segmentKey, added: 0, removed: row.included_count, unchanged: 0 }
      this.writeRecord(env, { ...successRecord(draft, env, [counts], Date.now()), members: 0 })
    }
    return true
  }

  private updateTargetsOne(
    env: EnvironmentRef,
    segmentKey: string,
    update: TargetsUpdate,
    now: number,
    draft?: SyncRecordDraft
  ): SegmentRecord | undefined {
    const s = this.stmt
    const row = s.segment.get(env.projectKey, env.environmentKey, segmentKey)
    if (row === undefined) return undefined
    // Removes before adds: a key in both lists ends up added, whatever order the lists came in.
    const change = (
      list: TargetListUpdate | undefined,
      add: Database.Statement<[number, string]>,
      remove: Database.Statement<[number, string]>
    ): { added: number; removed: number } => {
      const removed = list?.remove?.length ? remove.run(row.id, JSON.stringify(list.remove)).changes : 0
      const added = list?.add?.length ? add.run(row.id, JSON.stringify(list.add)).changes : 0
      return { added, removed }
    }
    const included = change(update.included, s.addMembers, s.removeMembers)
    const excluded = change(update.excluded, s.addExcluded, s.removeExcluded)
    const includedDelta = included.added - included.removed
    const excludedDelta = excluded.added - excluded.removed
    s.touchTargets.run(now, includedDelta, excludedDelta, row.id)
    const updated = {
      ...row,
      last_modified_date: now,
      included_count: row.included_count + includedDelta,
      excluded_count: row.excluded_count + excludedDelta
    }
    if (draft) {
      const record = targetsRecord(draft, env, segmentKey, update, included)
      this.writeRecord(env, record, [row.id])
      // The record just written is the segment's latest sync, as Redis's script returns it too.
      Object.assign(updated, {
        last_sync_time: record.time,
        last_sync_status: record.status,
        last_sync_added: included.added,
        last_sync_removed: included.removed
      })
    }
    return toRecord(updated)
  }

  private listPage(env: EnvironmentRef, options: ListOptions): Page<SegmentRecord> {
    if (options.sort === undefined && options.filter === undefined) {
      // The plain listing by key, through the unique index.
      return {
        items: this.stmt.listSegments
          .all(env.projectKey, env.environmentKey, options.limit, options.offset)
          .map(toRecord),
        totalCount: this.stmt.countSegments.get(env.projectKey, env.environmentKey) ?? 0
      }
    }
    const where = filterClause(options.filter)
    const order = [
      ...(options.sort ?? []).map((sort) => `${SORT_COLUMNS[sort.field]}${sort.descending ? ' DESC' : ''}`),
      'segment_key'
    ]
    const base = `FROM segments WHERE project_key = ? AND environment_key = ?${where.sql}`
    const params = [env.projectKey, env.environmentKey, ...where.params]
    const items = (
      this.listStatement(
        `SELECT ${SEGMENT_COLUMNS} ${base} ORDER BY ${order.join(', ')} LIMIT ? OFFSET ?`
      ).all(...params, options.limit, options.offset) as SegmentRow[]
    ).map(toRecord)
    const totalCount = this.listStatement(`SELECT count(*) ${base}`)
      .pluck()
      .get(...params) as number
    return { items, totalCount }
  }

  private listStatement(sql: string): Database.Statement {
    let statement = this.listStatements.get(sql)
    if (statement === undefined) {
      statement = this.db.prepare(sql)
      this.listStatements.set(sql, statement)
    }
    return statement
  }

  /**
   * Removes up to `maxRows` orphaned member rows of deleted segments in one transaction; returns how
   * many it removed (0 when nothing is left). Runs by itself in the background after a delete.
   */
  purgeDeletedMembers(maxRows = PURGE_BATCH_SIZE): number {
    return this.purgeTx.immediate(maxRows)
  }

  private purgeBatch(maxRows: number): number {
    const s = this.stmt
    let removed = 0
    while (removed < maxRows) {
      const segmentId = s.nextDropped.get()
      if (segmentId === undefined) break
      const wanted = maxRows - removed
      const changes =
        s.purgeExcluded.run(segmentId, segmentId, wanted).changes +
        s.purgeMembers.run(segmentId, segmentId, wanted).changes
      removed += changes
      // Fewer rows than asked for from both tables together: that segment's rows are all gone.
      if (changes < wanted) s.unqueueDrop.run(segmentId)
    }
    return removed
  }

  private schedulePurge(): void {
    if (this.purgeTimer !== undefined || !this.db.open || this.stmt.nextDropped.get() === undefined) return
    // setTimeout, not setImmediate: requests waiting in the event loop go first between batches.
    this.purgeTimer = setTimeout(() => {
      this.purgeTimer = undefined
      try {
        this.purgeDeletedMembers()
        this.schedulePurge()
      } catch {
        // A busy or failing database: the queue is durable, so the next delete or start retries.
      }
    }, 1)
    this.purgeTimer.unref()
  }

  apply(env: EnvironmentRef, changes: SegmentChange[], options: ApplyOptions): Promise<ApplyResult> {
    if (!this.db.open) return Promise.reject(new StoreUnavailableError('SQLite store is closed'))
    return new Promise((resolve, reject) => {
      this.pending.push({ env, changes, options, resolve, reject })
      this.scheduleFlush()
    })
  }

  async listSegments(env: EnvironmentRef, options: ListOptions): Promise<Page<SegmentRecord>> {
    try {
      return this.listTx(env, options)
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async getSegment(env: EnvironmentRef, segmentKey: string): Promise<SegmentRecord | undefined> {
    try {
      const row = this.stmt.segment.get(env.projectKey, env.environmentKey, segmentKey)
      return row === undefined ? undefined : toRecord(row)
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async isIncluded(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<boolean> {
    try {
      return this.stmt.isMember.get(env.projectKey, env.environmentKey, segmentKey, contextKey) !== undefined
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async membership(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<ContextMembership> {
    try {
      const args = [env.projectKey, env.environmentKey, segmentKey, contextKey] as const
      return {
        included: this.stmt.isMember.get(...args) !== undefined,
        excluded: this.stmt.isExcluded.get(...args) !== undefined
      }
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async updateTargets(
    env: EnvironmentRef,
    segmentKey: string,
    update: TargetsUpdate,
    options: { now?: number; record?: SyncRecordDraft } = {}
  ): Promise<SegmentRecord | undefined> {
    if (!this.db.open) throw new StoreUnavailableError('SQLite store is closed')
    try {
      return this.targetsTx.immediate(env, segmentKey, update, options.now ?? Date.now(), options.record)
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  /**
   * Keyset pages rather than one `.iterate()`: an open iterator would hold the connection busy
   * while the consumer awaits (e.g. a slow HTTP client), blocking every other request.
   */
  async *members(
    env: EnvironmentRef,
    segmentKey: string,
    options: { after?: string; limit?: number; excluded?: boolean }
  ): AsyncIterable<string> {
    const [first, next] = options.excluded
      ? [this.stmt.firstExcluded, this.stmt.nextExcluded]
      : [this.stmt.firstMembers, this.stmt.nextMembers]
    let remaining = options.limit ?? Infinity
    let after = options.after
    let segmentId: number | undefined
    try {
      segmentId = this.stmt.segmentId.get(env.projectKey, env.environmentKey, segmentKey)
    } catch (error) {
      throw unavailable(this.db, error)
    }
    if (segmentId === undefined) return

    while (remaining > 0) {
      const size = Math.min(remaining, MEMBER_PAGE_SIZE)
      let page: string[]
      try {
        page = after === undefined ? first.all(segmentId, size) : next.all(segmentId, after, size)
      } catch (error) {
        throw unavailable(this.db, error)
      }
      yield* page
      if (page.length < size) return
      remaining -= page.length
      after = page[page.length - 1]
    }
  }

  async deleteSegment(
    env: EnvironmentRef,
    segmentKey: string,
    options: { record?: SyncRecordDraft } = {}
  ): Promise<boolean> {
    let deleted: boolean
    try {
      deleted = this.deleteTx.immediate(env, segmentKey, options.record)
    } catch (error) {
      throw unavailable(this.db, error)
    }
    if (deleted) this.schedulePurge()
    return deleted
  }

  async ping(): Promise<void> {
    try {
      this.stmt.ping.get()
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  /**
   * Rejected requests' records are queued and committed together once per event-loop turn, so a
   * flood of refused requests costs one transaction per turn, not one each.
   */
  recordSync(env: EnvironmentRef, record: SyncRecord): Promise<void> {
    if (!this.db.open) return Promise.reject(new StoreUnavailableError('SQLite store is closed'))
    return new Promise((resolve, reject) => {
      this.pendingRecords.push({ env, record, resolve, reject })
      if (this.recordFlushScheduled) return
      this.recordFlushScheduled = true
      setImmediate(() => this.flushRecords())
    })
  }

  private flushRecords(): void {
    this.recordFlushScheduled = false
    // In place, not reassigned: the queue stays one array however the store is wrapped.
    const records = this.pendingRecords.splice(0)
    if (records.length === 0) return
    try {
      this.recordTx.immediate(records)
    } catch (error) {
      const failure = unavailable(this.db, error)
      for (const item of records) item.reject(failure)
      return
    }
    for (const item of records) item.resolve()
  }

  async listSyncHistory(env: EnvironmentRef, query: SyncHistoryQuery): Promise<SyncHistoryPage> {
    const after = parseCursor(query.after)
    let rows: HistoryRow[]
    try {
      rows = this.stmt.listHistory.all({
        projectKey: env.projectKey,
        environmentKey: env.environmentKey,
        after,
        status: query.status ?? null,
        integration: query.integration ?? null,
        segmentKey: query.segmentKey ?? null,
        // One more than asked for tells whether another page follows.
        limit: query.limit + 1
      })
    } catch (error) {
      throw unavailable(this.db, error)
    }
    const more = rows.length > query.limit
    if (more) rows.length = query.limit
    return { items: rows.map(toSyncRecord), next: more ? String(rows[rows.length - 1].seq) : null }
  }

  /** Prunes every environment's history to its retention now rather than in the background. */
  async pruneSyncHistory(): Promise<void> {
    await this.pruner.flush()
  }

  async synchronizedOn(env: EnvironmentRef): Promise<number | undefined> {
    try {
      return this.stmt.synchronizedOn.get(env.projectKey, env.environmentKey) ?? undefined
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async close(): Promise<void> {
    while (this.pending.length > 0 && this.db.open) this.flush()
    if (this.db.open) this.flushRecords()
    this.pruner.stop()
    clearTimeout(this.purgeTimer)
    this.purgeTimer = undefined
    if (this.db.open) this.db.close()
  }
  // Imports and exports (§B7). Staged keys go to a temporary table of their own (memory, no WAL,
  // no fsync), invisible to every reader; applying is one transaction over it.

  private saveJob(kind: 'import' | 'export', env: EnvironmentRef, record: ImportRecord | ExportRecord): void {
    const { projectKey, environmentKey } = env
    const body = JSON.stringify(record)
    this.bulk.saveJob.run(
      kind,
      record.id,
      projectKey,
      environmentKey,
      record.segmentKey,
      record.creationTime,
      body
    )
  }

  private loadJob<T>(
    kind: 'import' | 'export',
    env: EnvironmentRef,
    segmentKey: string,
    id: string
  ): T | undefined {
    const body = this.bulk.job.get(kind, id, env.projectKey, env.environmentKey, segmentKey)
    return body === undefined ? undefined : (JSON.parse(body) as T)
  }

  private runningImport(env: EnvironmentRef, importId: string): RunningImport | undefined {
    const run = this.runningImports.get(importId)
    if (
      run === undefined ||
      run.env.projectKey !== env.projectKey ||
      run.env.environmentKey !== env.environmentKey
    )
      return undefined
    return run
  }

  private endImport(run: RunningImport, status: 'complete' | 'stopped', error?: string): ImportRecord {
    this.runningImports.delete(run.record.id)
    if (run.file !== undefined) rmSync(run.file, { force: true })
    run.record.status = status
    if (error !== undefined) run.record.error = error
    this.saveJob('import', run.env, run.record)
    return run.record
  }

  async beginImport(
    env: EnvironmentRef,
    segmentKey: string,
    init: { id: string; mode?: ImportMode; filename?: string; now?: number }
  ): Promise<ImportRecord> {
    try {
      const segmentId = this.stmt.segmentId.get(env.projectKey, env.environmentKey, segmentKey)
      if (segmentId === undefined) throw segmentMissing(env, segmentKey)
      for (const run of this.runningImports.values()) {
        if (run.segmentId === segmentId) throw importRunning(segmentKey)
      }
      const record = newImportRecord(segmentKey, init)
      this.bulk.pruneJobs.run(record.creationTime - JOB_RETENTION_MS)
      this.saveJob('import', env, record)
      this.runningImports.set(record.id, { env, record, segmentId })
      return { ...record }
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async stageImport(
    env: EnvironmentRef,
    importId: string,
    keys: AsyncIterable<readonly string[]>
  ): Promise<ImportRecord> {
    const run = this.runningImport(env, importId)
    if (run === undefined || run.record.status !== 'preparing' || run.file !== undefined)
      throw unknownImport(importId)
    // A file of its own beside the database (§ staging.ts), attached when the import is applied.
    run.file = `${this.stagingPrefix}${importId.replace(/[^A-Za-z0-9-]/g, '_')}`
    try {
      await stageKeys(run.file, keys, (count) => {
        if (!this.runningImports.has(importId)) throw unknownImport(importId)
        run.record.keys += count
      })
      this.saveJob('import', env, run.record)
      return { ...run.record }
    } catch (error) {
      if (this.db.open && this.runningImports.has(importId))
        this.endImport(run, 'stopped', (error as Error).message)
      throw unavailable(this.db, error)
    }
  }

  async applyImport(
    env: EnvironmentRef,
    importId: string,
    mode: ImportMode,
    options: { record?: SyncRecordDraft } = {}
  ): Promise<ImportRecord> {
    const run = this.runningImport(env, importId)
    if (run === undefined || run.file === undefined || run.record.status !== 'preparing')
      throw unknownImport(importId)
    const { file, record } = run
    this.stagingTables += 1
    const schema = `import_${this.stagingTables}`
    const table = `${schema}.staged`
    record.mode = mode
    record.status = 'in_progress'
    const now = Date.now()
    try {
      this.db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(file)
      try {
        this.applyStaged(env, run, mode, table, now, options.record)
      } finally {
        this.db.exec(`DETACH DATABASE ${schema}`)
      }
      return { ...this.endImport(run, 'complete') }
    } catch (error) {
      record.added = 0
      record.removed = 0
      if (this.db.open) this.endImport(run, 'stopped', (error as Error).message)
      throw unavailable(this.db, error)
    }
  }

  /** The one transaction of an import: the staged keys, attached as `table`, become the segment's. */
  private applyStaged(
    env: EnvironmentRef,
    run: RunningImport,
    mode: ImportMode,
    table: string,
    now: number,
    draft: SyncRecordDraft | undefined
  ): void {
    const { record } = run
    this.db
      .transaction(() => {
        const segmentId = this.stmt.segmentId.get(env.projectKey, env.environmentKey, record.segmentKey)
        // Deleted (and maybe re-created) since the import began: its keys were meant for another segment.
        if (segmentId !== run.segmentId) throw segmentMissing(env, record.segmentKey)
        if (mode === 'replace') {
          record.removed = this.db
            .prepare<[number]>(
              `DELETE FROM members WHERE segment_id = ? AND context_key NOT IN (SELECT context_key FROM ${table})`
            )
            .run(segmentId).changes
        }
        // In the staging table's key order, so members' index grows at its end rather than page by page.
        record.added = this.db
          .prepare<[number]>(
            `INSERT OR IGNORE INTO members (segment_id, context_key) SELECT ?, context_key FROM ${table} ORDER BY context_key`
          )
          .run(segmentId).changes
        this.bulk.importedSegment.run(record.added - record.removed, now, segmentId)
        if (draft) this.writeRecord(env, importRecord(draft, env, record, Date.now()), [segmentId])
        record.status = 'complete'
        this.saveJob('import', env, record)
      })
      .immediate()
  }

  async stopImport(env: EnvironmentRef, importId: string, reason: string): Promise<void> {
    const run = this.runningImport(env, importId)
    if (run === undefined || run.record.status !== 'preparing') return
    try {
      this.endImport(run, 'stopped', reason)
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async getImport(
    env: EnvironmentRef,
    segmentKey: string,
    importId: string
  ): Promise<ImportRecord | undefined> {
    const run = this.runningImport(env, importId)
    if (run !== undefined) return run.record.segmentKey === segmentKey ? { ...run.record } : undefined
    try {
      const record = this.loadJob<ImportRecord>('import', env, segmentKey, importId)
      // Not running here, yet not finished: the process that ran it is gone.
      if (record !== undefined && isRunning(record.status))
        return { ...record, status: 'stopped', error: ABANDONED }
      return record
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async segmentsImporting(env: EnvironmentRef, segmentKeys: readonly string[]): Promise<Set<string>> {
    const wanted = new Set(segmentKeys)
    const importing = new Set<string>()
    for (const run of this.runningImports.values()) {
      if (this.runningImport(env, run.record.id) && wanted.has(run.record.segmentKey))
        importing.add(run.record.segmentKey)
    }
    return importing
  }

  async saveExport(env: EnvironmentRef, record: ExportRecord): Promise<void> {
    try {
      this.saveJob('export', env, record)
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }

  async getExport(
    env: EnvironmentRef,
    segmentKey: string,
    exportId: string
  ): Promise<ExportRecord | undefined> {
    try {
      return this.loadJob<ExportRecord>('export', env, segmentKey, exportId)
    } catch (error) {
      throw unavailable(this.db, error)
    }
  }
}

/** Opens (creating or migrating as needed) the SQLite store at `path`. */
export function openSqliteStore(options: SqliteStoreOptions): SegmentStore {
  return new SqliteSegmentStore(options.path, options)
}
