/**
 * The embedded default store: one SQLite file (better-sqlite3) in the data directory.
 *
 * Layout: `segments` holds one row per live segment; `members` holds one row per included context
 * key, keyed (segment_id, context_key) in a WITHOUT ROWID table, so membership lookups, cursor
 * listings and per-segment deletes are primary-key reads. `included_count` is kept on the segment
 * row, maintained from the rows each statement really inserted or deleted.
 *
 * Deleting a segment removes its one `segments` row, remembers its generation in
 * `segment_tombstones` (the next sync re-creates it with generation + 1) and queues its id in
 * `dropped_segments`; the orphaned member rows are purged afterwards in small batches, so deleting a
 * segment of a million members is as cheap as deleting an empty one. Segment ids are AUTOINCREMENT,
 * never reused, so a re-created segment can never see its predecessor's orphans.
 */
import Database from 'better-sqlite3'
// The module's own timers, not the globals: tests that fake global timers must not stall commits.
import { clearTimeout, setImmediate, setTimeout } from 'node:timers'
import { ConflictError, ForbiddenError, HttpError, StoreUnavailableError } from '../errors'
import { HistoryPruner, parseCursor, successRecord, type HistoryOptions } from './history'
import {
  DEFAULT_HISTORY_RETENTION,
  type ApplyOptions,
  type ApplyResult,
  type EnvironmentRef,
  type MembershipOp,
  type Page,
  type SegmentChange,
  type SegmentRecord,
  type SegmentStore,
  type SyncHistoryPage,
  type SyncHistoryQuery,
  type SyncOperation,
  type SyncRecord,
  type SyncRecordDraft,
  type SyncSegmentCounts,
  type SyncStatus
} from './types'

/** Schema steps; `user_version` is the number applied. Append a step to migrate, never edit one. */
const MIGRATIONS: readonly string[] = [
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
  last_sync_time?: number | null
  last_sync_status?: string | null
  last_sync_added?: number | null
  last_sync_removed?: number | null
}

const SEGMENT_COLUMNS = `id, segment_key, name, context_kind, generation, creation_date, last_modified_date,
  external, external_link, included_count, last_sync_time, last_sync_status, last_sync_added, last_sync_removed`

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
    includedCount: row.included_count
  }
  if (row.external_link !== null) record._externalLink = row.external_link
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
    creation_date, last_modified_date, external, external_link) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  touchSegment: `UPDATE segments SET name = ?, last_modified_date = ?, external_link = coalesce(?, external_link),
    included_count = included_count + ? WHERE id = ?`,
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
  unqueueDrop: 'DELETE FROM dropped_segments WHERE segment_id = ?',
  ping: 'SELECT 1',
  insertHistory: `INSERT INTO sync_history (project_key, environment_key, request_id, time, operation, integration,
    token_name, segments, members, status, status_code, error_code, error_message, duration_ms)
    VALUES (@projectKey, @environmentKey, @requestId, @time, @operation, @integration, @tokenName, @segments,
    @members, @status, @statusCode, @errorCode, @errorMessage, @durationMs)`,
  setLastSync: `UPDATE segments SET last_sync_time = ?, last_sync_status = ?, last_sync_added = ?, last_sync_removed = ?
    WHERE project_key = ? AND environment_key = ? AND segment_key = ?`,
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
      [string, string, string, string, string, number, number, number, string, string | null]
    >(SQL.insertSegment),
    touchSegment: db.prepare<[string, number, string | null, number, number]>(SQL.touchSegment),
    addMembers: db.prepare<[number, string]>(SQL.addMembers),
    removeMembers: db.prepare<[number, string]>(SQL.removeMembers),
    isMember: db.prepare<[string, string, string, string], number>(SQL.isMember).pluck(),
    segmentId: db.prepare<[string, string, string], number>(SQL.segmentId).pluck(),
    firstMembers: db.prepare<[number, number], string>(SQL.firstMembers).pluck(),
    nextMembers: db.prepare<[number, string, number], string>(SQL.nextMembers).pluck(),
    listSegments: db.prepare<[string, string, number, number], SegmentRow>(SQL.listSegments),
    countSegments: db.prepare<[string, string], number>(SQL.countSegments).pluck(),
    deleteSegment: db.prepare<[number]>(SQL.deleteSegment),
    upsertTombstone: db.prepare<[string, string, string, number]>(SQL.upsertTombstone),
    queueDrop: db.prepare<[number]>(SQL.queueDrop),
    nextDropped: db.prepare<[], number>(SQL.nextDropped).pluck(),
    purgeMembers: db.prepare<[number, number, number]>(SQL.purgeMembers),
    unqueueDrop: db.prepare<[number]>(SQL.unqueueDrop),
    ping: db.prepare(SQL.ping).pluck(),
    insertHistory: db.prepare<[HistoryParams]>(SQL.insertHistory),
    setLastSync: db.prepare<[number, string, number, number, string, string, string]>(SQL.setLastSync),
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
    (env: EnvironmentRef, page: { limit: number; offset: number }) => Page<SegmentRecord>
  >
  private readonly purgeTx: Database.Transaction<(maxRows: number) => number>
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
    this.listTx = this.db.transaction((env: EnvironmentRef, page: { limit: number; offset: number }) => ({
      items: this.stmt.listSegments
        .all(env.projectKey, env.environmentKey, page.limit, page.offset)
        .map(toRecord),
      totalCount: this.stmt.countSegments.get(env.projectKey, env.environmentKey) ?? 0
    }))
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
          externalLink
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
          included_count: 0
        }
      } else if (row.context_kind !== change.contextKind) {
        throw new ConflictError(
          `Segment ${change.segmentKey} has context kind ${row.context_kind}, not ${change.contextKind}`
        )
      }

      const id = row.id
      const { adds, removes } = splitOps(change.ops)
      // changes() counts only rows really inserted or deleted, so re-adds and absent removes are free.
      const added = adds.length > 0 ? s.addMembers.run(id, JSON.stringify(adds)).changes : 0
      const removed = removes.length > 0 ? s.removeMembers.run(id, JSON.stringify(removes)).changes : 0
      const delta = added - removed
      s.touchSegment.run(change.name, now, change.externalLink ?? null, delta, id)
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
          included_count: row.included_count + delta
        })
      )
    }
    if (options.record) {
      const record = successRecord(options.record, env, counts, Date.now())
      this.writeRecord(env, record)
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

  /** Writes a record and the touched segments' `_lastSync`, inside the caller's transaction. */
  private writeRecord(env: EnvironmentRef, record: SyncRecord): void {
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
    // A delete leaves no segment to carry it; an error touches only segments that exist.
    if (record.operation !== 'delete') {
      for (const counts of record.segments) {
        this.stmt.setLastSync.run(
          record.time,
          record.status,
          counts.added,
          counts.removed,
          projectKey,
          environmentKey,
          counts.segmentKey
        )
      }
    }
    this.pruner.touched(env)
  }

  private deleteOne(env: EnvironmentRef, segmentKey: string, draft: SyncRecordDraft | undefined): boolean {
    const s = this.stmt
    const row = s.segment.get(env.projectKey, env.environmentKey, segmentKey)
    if (row === undefined) return false
    s.deleteSegment.run(row.id)
    s.upsertTombstone.run(env.projectKey, env.environmentKey, segmentKey, row.generation)
    if (row.included_count > 0) s.queueDrop.run(row.id)
    if (draft) {
      const counts = { segmentKey, added: 0, removed: row.included_count, unchanged: 0 }
      this.writeRecord(env, { ...successRecord(draft, env, [counts], Date.now()), members: 0 })
    }
    return true
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
      const { changes } = s.purgeMembers.run(segmentId, segmentId, wanted)
      removed += changes
      // Fewer rows than asked for: that segment's members are all gone.
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

  async listSegments(
    env: EnvironmentRef,
    page: { limit: number; offset: number }
  ): Promise<Page<SegmentRecord>> {
    try {
      return this.listTx(env, page)
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

  /**
   * Keyset pages rather than one `.iterate()`: an open iterator would hold the connection busy
   * while the consumer awaits (e.g. a slow HTTP client), blocking every other request.
   */
  async *members(
    env: EnvironmentRef,
    segmentKey: string,
    options: { after?: string; limit?: number }
  ): AsyncIterable<string> {
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
        page =
          after === undefined
            ? this.stmt.firstMembers.all(segmentId, size)
            : this.stmt.nextMembers.all(segmentId, after, size)
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
}

/** Opens (creating or migrating as needed) the SQLite store at `path`. */
export function openSqliteStore(options: SqliteStoreOptions): SegmentStore {
  return new SqliteSegmentStore(options.path, options)
}
