/**
 * What both stores share about the sync history (SPEC §F): turning a route's draft into the record
 * the change's transaction writes, the filters of a history query, the cursor, and the background
 * pruning that keeps each environment to its retention.
 */
// The module's own timers, not the globals: tests that fake global timers must not stall pruning.
import { clearTimeout, setTimeout } from 'node:timers'
import { BadRequestError } from '../errors'
import type {
  EnvironmentRef,
  ImportRecord,
  SyncHistoryQuery,
  SyncRecord,
  SyncRecordDraft,
  SyncSegmentCounts,
  TargetListUpdate,
  TargetsUpdate
} from './types'

export interface HistoryOptions {
  /** Records kept per environment (DEFAULT_HISTORY_RETENTION when absent). */
  historyRetention?: number
  /** How often environments written to since the last prune are pruned (default 1,000 ms). */
  historyPruneIntervalMs?: number
}

/** A 2xx's record without what only applying it tells (its segments' counts and members). */
export function successHead(
  draft: SyncRecordDraft,
  env: EnvironmentRef,
  now: number
): Omit<SyncRecord, 'segments' | 'members'> {
  return {
    requestId: draft.requestId,
    time: draft.time,
    operation: draft.operation,
    integration: draft.integration,
    tokenName: draft.tokenName,
    projectKey: env.projectKey,
    environmentKey: env.environmentKey,
    status: 'success',
    statusCode: draft.statusCode,
    durationMs: Math.max(0, now - draft.time)
  }
}

/** The record of a change that succeeded, completed with what the store saw while applying it. */
export function successRecord(
  draft: SyncRecordDraft,
  env: EnvironmentRef,
  segments: SyncSegmentCounts[],
  now: number
): SyncRecord {
  let members = 0
  for (const counts of segments) members += counts.added + counts.removed + counts.unchanged
  return { ...successHead(draft, env, now), segments, members }
}

/**
 * The record of a `POST …/contexts`: its counts are those of the included list (what the segment's
 * size follows), `members` every key the request named in either list.
 */
export function targetsRecord(
  draft: SyncRecordDraft,
  env: EnvironmentRef,
  segmentKey: string,
  update: TargetsUpdate,
  included: { added: number; removed: number }
): SyncRecord {
  const count = (list: TargetListUpdate | undefined) => (list?.add?.length ?? 0) + (list?.remove?.length ?? 0)
  const counts = {
    segmentKey,
    added: included.added,
    removed: included.removed,
    unchanged: count(update.included) - included.added - included.removed
  }
  return {
    ...successRecord(draft, env, [counts], Date.now()),
    members: count(update.included) + count(update.excluded)
  }
}

/**
 * The record of a completed import: `members` is every key the file held, and `unchanged` the
 * keys that changed nothing (already included, or given twice).
 */
export function importRecord(
  draft: SyncRecordDraft,
  env: EnvironmentRef,
  imported: ImportRecord,
  now: number
): SyncRecord {
  const counts = {
    segmentKey: imported.segmentKey,
    added: imported.added,
    removed: imported.removed,
    unchanged: Math.max(0, imported.keys - imported.added)
  }
  return { ...successHead(draft, env, now), segments: [counts], members: imported.keys }
}

/** Whether a record passes a query's filters (the cursor aside). */
export function matchesQuery(record: SyncRecord, query: SyncHistoryQuery): boolean {
  if (query.status !== undefined && record.status !== query.status) return false
  if (query.integration !== undefined && record.integration !== query.integration) return false
  if (query.segmentKey !== undefined && !record.segments.some((s) => s.segmentKey === query.segmentKey))
    return false
  return true
}

/**
 * A cursor is the sequence number of the last record of a page, as a decimal string: records are
 * numbered in the order they were written, per environment (Redis) or per database (SQLite).
 */
export function parseCursor(after: string | undefined): number {
  if (after === undefined) return Number.MAX_SAFE_INTEGER
  if (!/^[1-9][0-9]{0,15}$/.test(after))
    throw new BadRequestError(`invalid cursor ${JSON.stringify(after.slice(0, 40))}`)
  return Number(after)
}

/**
 * Prunes, in the background, the environments written to since the last prune; `prune` is the
 * store's own (one statement or command per environment).
 */
export class HistoryPruner {
  readonly retention: number
  private readonly intervalMs: number
  private readonly dirty = new Map<string, EnvironmentRef>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> = Promise.resolve()

  constructor(
    options: HistoryOptions,
    defaultRetention: number,
    private readonly prune: (env: EnvironmentRef, retention: number) => Promise<void> | void
  ) {
    this.retention = options.historyRetention ?? defaultRetention
    if (!Number.isInteger(this.retention) || this.retention < 1) {
      throw new Error(`history retention must be a positive integer, got ${this.retention}`)
    }
    this.intervalMs = options.historyPruneIntervalMs ?? 1_000
  }

  /** Notes that an environment got a record; it is pruned within the interval. */
  touched(env: EnvironmentRef): void {
    const id = `${env.redisPrefix ?? ''}\n${env.projectKey}\n${env.environmentKey}`
    if (!this.dirty.has(id)) this.dirty.set(id, env)
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.running = this.running.then(() => this.pruneDirty())
    }, this.intervalMs)
    this.timer.unref()
  }

  /** Prunes every environment written to since the last prune now (tests, close). */
  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.running = this.running.then(() => this.pruneDirty())
    await this.running
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.dirty.clear()
  }

  private async pruneDirty(): Promise<void> {
    const envs = [...this.dirty.values()]
    this.dirty.clear()
    for (const env of envs) {
      try {
        await this.prune(env, this.retention)
      } catch {
        // A busy or unreachable store: the records stay until the environment's next write prunes.
      }
    }
  }
}
