/**
 * The Redis store (SPEC §C2): several receivers share one Redis, and LaunchDarkly's server-side SDKs
 * read big-segment membership straight from it.
 *
 * Layout per environment, with `<prefix>` = the environment's `redisPrefix` (default `launchdarkly`):
 *
 *   <prefix>:big_segment_include:<base64(sha256(contextKey))>   SET of `<segmentKey>.g<generation>`
 *   <prefix>:big_segments_synchronized_on                        Unix ms of the last write
 *
 * Those two are exactly what `@launchdarkly/node-server-sdk-redis`'s RedisBigSegmentStore reads
 * (it also reads `big_segment_exclude:<hash>`, which synced segments never need). The receiver's own
 * data lives beside them, namespaced by project and environment (`<ns>` = `<prefix>:synced_segments:<project>/<environment>:`):
 *
 *   <ns>segments                        ZSET (score 0) of segment keys: listing ordered by key
 *   <ns>segment:<segmentKey>            HASH name, kind, generation, creationDate, lastModifiedDate, external[, externalLink]
 *   <ns>generations                     HASH segmentKey → last generation used (survives deletes)
 *   <ns>members:<segmentKey>.g<gen>     ZSET (score 0) of included context keys: byte-wise cursor paging, ZCARD count
 *   <ns>garbage / <ns>garbage:<ref>     member sets of deleted generations, swept from the include sets lazily
 *   <ns>history / <ns>history:seq       ZSET of sync records (JSON) scored by their sequence number, and
 *                                       the counter; a segment's latest sync is in its HASH (lastSync*)
 *
 * Every write is one Lua script, so a request is applied entirely or not at all and two receivers
 * racing to create a segment create it once. Scripts build key names from their arguments, so the
 * store needs one Redis (or a primary with replicas), not Redis Cluster.
 */
import * as crypto from 'node:crypto'
import Redis from 'ioredis'
import { HttpError, ConflictError, ForbiddenError, StoreUnavailableError } from '../errors'
import { HistoryPruner, matchesQuery, parseCursor, successHead, type HistoryOptions } from './history'
import {
  DEFAULT_HISTORY_RETENTION,
  DEFAULT_REDIS_PREFIX,
  type SyncHistoryPage,
  type SyncHistoryQuery,
  type SyncRecord,
  type SyncRecordDraft,
  type SyncStatus,
  type ApplyOptions,
  type ApplyResult,
  type EnvironmentRef,
  type Page,
  type SegmentChange,
  type SegmentRecord,
  type SegmentStore
} from './types'

export interface RedisStoreOptions extends HistoryOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string
  /** How long opening (and each reconnect attempt) may take before giving up (default 2,000 ms). */
  connectTimeoutMs?: number
  /** How long one command may take before it fails with a 503 (default 5,000 ms). */
  commandTimeoutMs?: number
}

/** Members read from Redis per round trip while streaming; bounds memory whatever the segment size. */
const MEMBER_PAGE = 1000
/** Deleted members removed from the include sets per round trip while sweeping. */
const SWEEP_PAGE = 1000
/** History records read per round trip while filtering a history query. */
const HISTORY_PAGE = 200
/** Members per ZADD/ZREM inside the apply script (Lua's unpack is bounded by its C stack). */
const MEMBER_RUN = 1000

/**
 * A sync record goes in with the next sequence number of its environment, which is also its score
 * and its cursor (receivers sharing a Redis share the numbering). `json` is the record without
 * `seq`; the member gets it appended, which also keeps two identical records apart.
 */
const LUA_HISTORY = `
local function appendHistory(ns, json)
  local seq = redis.call('INCR', ns .. 'history:seq')
  redis.call('ZADD', ns .. 'history', seq, string.sub(json, 1, -2) .. ',"seq":' .. seq .. '}')
end
local function setLastSync(ns, key, time, status, added, removed)
  local segmentKey = ns .. 'segment:' .. key
  if redis.call('EXISTS', segmentKey) == 1 then
    redis.call('HSET', segmentKey, 'lastSyncTime', time, 'lastSyncStatus', status, 'lastSyncAdded', added,
      'lastSyncRemoved', removed)
  end
end
`

/** Reads one segment's record: `{ key, includedCount, HGETALL fields }`, or false when absent. */
const LUA_RECORD = `
local function record(ns, key)
  local fields = redis.call('HGETALL', ns .. 'segment:' .. key)
  if #fields == 0 then return false end
  local generation
  for i = 1, #fields, 2 do
    if fields[i] == 'generation' then generation = fields[i + 1] end
  end
  return { key, redis.call('ZCARD', ns .. 'members:' .. key .. '.g' .. generation), fields }
end
`

/**
 * ARGV: synchronizedOnKey, ns, now, syncedAt, allowCreate ('1'|'0'), changeCount, then
 * per change: segmentKey, name, contextKind, integrationKey, externalLink ('' = none), opCount, then
 * per op: '1' (include) | '0' (exclude), contextKey, its include-set key (`<prefix>:big_segment_include:<hash>`);
 * last, the sync record's JSON without segments and members ('' = no record) and its time.
 * Every change is checked before anything is written, so a 409 or 403 leaves Redis untouched.
 */
const LUA_APPLY = `${LUA_RECORD}${LUA_HISTORY}
local syncedOnKey, ns, now, syncedAt = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local allowCreate, changeCount = ARGV[5] == '1', tonumber(ARGV[6])

local changes, kinds, at = {}, {}, 7
for c = 1, changeCount do
  local change = { key = ARGV[at], name = ARGV[at + 1], kind = ARGV[at + 2], external = ARGV[at + 3],
    link = ARGV[at + 4], first = at + 6, last = at + 5 + tonumber(ARGV[at + 5]) * 3 }
  changes[c] = change
  at = change.last + 1
  local kind = kinds[change.key]
  if kind == nil then kind = redis.call('HGET', ns .. 'segment:' .. change.key, 'kind') end
  if kind == false then
    if not allowCreate then return { 'forbidden', change.key } end
    kinds[change.key] = change.kind
  elseif kind ~= change.kind then
    return { 'conflict', change.key, kind }
  end
end

for _, change in ipairs(changes) do
  local segmentKey = ns .. 'segment:' .. change.key
  local generation = redis.call('HGET', segmentKey, 'generation')
  if generation == false then
    generation = redis.call('HINCRBY', ns .. 'generations', change.key, 1)
    redis.call('HSET', segmentKey, 'kind', change.kind, 'generation', generation, 'creationDate', now,
      'external', change.external)
    redis.call('ZADD', ns .. 'segments', 0, change.key)
  end
  redis.call('HSET', segmentKey, 'name', change.name, 'lastModifiedDate', now)
  if change.link ~= '' then redis.call('HSET', segmentKey, 'externalLink', change.link) end
  local ref = change.key .. '.g' .. generation
  local membersKey = ns .. 'members:' .. ref
  -- Member-set writes go out in runs of one kind (one ZADD/ZREM per run, not per op); a run ends
  -- when the op kind changes, so the order of ops still holds.
  local run, runKind, runLength = {}, nil, 0
  -- ZADD and ZREM answer how many members they really added or removed: the record's counts.
  change.added, change.removed = 0, 0
  local function flush()
    if runLength == 0 then return end
    if runKind == '1' then
      change.added = change.added + redis.call('ZADD', membersKey, unpack(run))
    else
      change.removed = change.removed + redis.call('ZREM', membersKey, unpack(run))
    end
    run, runLength = {}, 0
  end
  for i = change.first, change.last, 3 do
    local kind = ARGV[i]
    if kind ~= runKind or runLength == ${MEMBER_RUN} then
      flush()
      runKind = kind
    end
    runLength = runLength + 1
    if kind == '1' then
      run[#run + 1] = 0
      run[#run + 1] = ARGV[i + 1]
      redis.call('SADD', ARGV[i + 2], ref)
    else
      run[#run + 1] = ARGV[i + 1]
      redis.call('SREM', ARGV[i + 2], ref)
    end
  end
  flush()
end

-- Never move the SDK's freshness mark backwards when receivers' clocks disagree.
if tonumber(syncedAt) > tonumber(redis.call('GET', syncedOnKey) or '0') then
  redis.call('SET', syncedOnKey, syncedAt)
end

local recordJson, recordTime = ARGV[at], ARGV[at + 1]
if recordJson ~= nil and recordJson ~= '' then
  local parts, members = {}, 0
  for c, change in ipairs(changes) do
    local opCount = (change.last - change.first + 1) / 3
    local unchanged = opCount - change.added - change.removed
    members = members + opCount
    parts[c] = '{"segmentKey":' .. cjson.encode(change.key) .. ',"added":' .. change.added .. ',"removed":' ..
      change.removed .. ',"unchanged":' .. unchanged .. '}'
    setLastSync(ns, change.key, recordTime, 'success', change.added, change.removed)
  end
  appendHistory(ns, string.sub(recordJson, 1, -2) .. ',"segments":[' .. table.concat(parts, ',') ..
    '],"members":' .. members .. '}')
end

local result = { 'ok' }
for c, change in ipairs(changes) do result[c + 1] = record(ns, change.key) end
return result
`

/** ARGV: ns, segmentKey. */
const LUA_GET = `${LUA_RECORD}
return record(ARGV[1], ARGV[2])
`

/** ARGV: ns, offset, limit. Returns { totalCount, records… } from one consistent snapshot. */
const LUA_LIST = `${LUA_RECORD}
local ns, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local result = { redis.call('ZCARD', ns .. 'segments') }
if limit <= 0 then return result end
for _, key in ipairs(redis.call('ZRANGE', ns .. 'segments', offset, offset + limit - 1)) do
  result[#result + 1] = record(ns, key)
end
return result
`

/** ARGV: ns, segmentKey, contextKey. */
const LUA_IS_INCLUDED = `
local ns, key = ARGV[1], ARGV[2]
local generation = redis.call('HGET', ns .. 'segment:' .. key, 'generation')
if generation == false then return 0 end
if redis.call('ZSCORE', ns .. 'members:' .. key .. '.g' .. generation, ARGV[3]) then return 1 end
return 0
`

/**
 * ARGV: ns, segmentKey, synchronizedOnKey, syncedAt, the sync record's JSON without segments
 * ('' = no record). The generation counter stays behind, so a re-created segment gets
 * generation + 1 and the SDK stops matching the old `<key>.g<n>` refs at once; the old member set
 * is parked for the sweeper instead of being walked here.
 */
const LUA_DELETE = `${LUA_HISTORY}
local ns, key, syncedOnKey, syncedAt, recordJson = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local segmentKey = ns .. 'segment:' .. key
local generation = redis.call('HGET', segmentKey, 'generation')
if generation == false then return 0 end
redis.call('DEL', segmentKey)
redis.call('ZREM', ns .. 'segments', key)
local ref = key .. '.g' .. generation
local membersKey = ns .. 'members:' .. ref
if recordJson ~= nil and recordJson ~= '' then
  appendHistory(ns, string.sub(recordJson, 1, -2) .. ',"segments":[{"segmentKey":' .. cjson.encode(key) ..
    ',"added":0,"removed":' .. redis.call('ZCARD', membersKey) .. ',"unchanged":0}],"members":0}')
end
if redis.call('EXISTS', membersKey) == 1 then
  redis.call('RENAME', membersKey, ns .. 'garbage:' .. ref)
  redis.call('SADD', ns .. 'garbage', ref)
end
if tonumber(syncedAt) > tonumber(redis.call('GET', syncedOnKey) or '0') then
  redis.call('SET', syncedOnKey, syncedAt)
end
return 1
`

/**
 * ARGV: ns, the record's JSON, its time, its status, then the keys of the segments it names: the
 * record of a request that changed nothing, with `_lastSync` on those of its segments that exist.
 */
const LUA_RECORD_SYNC = `${LUA_HISTORY}
local ns, json, time, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
appendHistory(ns, json)
for i = 5, #ARGV do setLastSync(ns, ARGV[i], time, status, 0, 0) end
return 1
`

type ScriptArg = string | number
type Script = (...args: ScriptArg[]) => Promise<unknown>

interface ScriptedRedis extends Redis {
  syncedSegmentsApply: Script
  syncedSegmentsGet: Script
  syncedSegmentsList: Script
  syncedSegmentsIsIncluded: Script
  syncedSegmentsDelete: Script
  syncedSegmentsRecordSync: Script
}

/** Raw record as the scripts return it: key, includedCount, flat HGETALL. */
type RawRecord = [string, number, string[]]

interface Layout {
  includePrefix: string
  synchronizedOn: string
  ns: string
}

function layoutOf(env: EnvironmentRef): Layout {
  const prefix = env.redisPrefix ?? DEFAULT_REDIS_PREFIX
  // Encoded so that e.g. project `a/b` + environment `c` and project `a` + environment `b/c` differ.
  const scope = `${encodeURIComponent(env.projectKey)}/${encodeURIComponent(env.environmentKey)}`
  return {
    includePrefix: `${prefix}:big_segment_include:`,
    synchronizedOn: `${prefix}:big_segments_synchronized_on`,
    ns: `${prefix}:synced_segments:${scope}:`
  }
}

/** The hash LaunchDarkly's SDKs look context keys up by: base64(sha256(utf8 key)). */
export const contextKeyHash: (contextKey: string) => string =
  // crypto.hash (Node 20.12+) is about 2.5× faster than createHash for short keys; one per op adds up.
  typeof crypto.hash === 'function'
    ? (contextKey) => crypto.hash('sha256', contextKey, 'base64')
    : (contextKey) => crypto.createHash('sha256').update(contextKey, 'utf8').digest('base64')

function toRecord([key, includedCount, fields]: RawRecord): SegmentRecord {
  const hash: Record<string, string> = {}
  for (let i = 0; i < fields.length; i += 2) hash[fields[i]] = fields[i + 1]
  const record: SegmentRecord = {
    key,
    name: hash.name,
    unbounded: true,
    unboundedContextKind: hash.kind,
    generation: Number(hash.generation),
    creationDate: Number(hash.creationDate),
    lastModifiedDate: Number(hash.lastModifiedDate),
    _external: hash.external,
    includedCount
  }
  if (hash.externalLink !== undefined) record._externalLink = hash.externalLink
  if (hash.lastSyncTime !== undefined) {
    record._lastSync = {
      time: Number(hash.lastSyncTime),
      status: hash.lastSyncStatus as SyncStatus,
      added: Number(hash.lastSyncAdded),
      removed: Number(hash.lastSyncRemoved)
    }
  }
  return record
}

/** The head of a 2xx's record: everything but the counts, which the script adds as it applies. */
function draftJson(draft: SyncRecordDraft, env: EnvironmentRef): string {
  // The script runs right after this; the round trip back is not part of the duration.
  return JSON.stringify(successHead(draft, env, Date.now()))
}

/** Redis answers that mean "not available right now" rather than "this request is wrong". */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|OOM|READONLY|MASTERDOWN|MISCONF|NOREPLICAS|TRYAGAIN|CLUSTERDOWN)\b/

/**
 * Connection trouble (refused, closed, timed out, offline) becomes a 503; typed errors pass through;
 * any other Redis reply error is a bug or foreign data under our prefix and stays a 500.
 */
function storeError(err: unknown, where: string): Error {
  if (err instanceof HttpError) return err
  const error = err instanceof Error ? err : new Error(String(err))
  if (error.name === 'ReplyError' && !TRANSIENT_REPLIES.test(error.message)) return error
  return new StoreUnavailableError(`Redis store unavailable (${where}): ${error.message}`)
}

/** host:port[/db] of a Redis URL, without credentials, for messages. */
function describe(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || 6379}${parsed.pathname.length > 1 ? parsed.pathname : ''}`
  } catch {
    return 'redis'
  }
}

/** The Redis store, with what the operator should hear about at start. */
export interface RedisStore extends SegmentStore {
  /** E.g. that Redis runs without append-only persistence; `serve` prints these. */
  readonly warnings: readonly string[]
  /** Prunes every environment's history to its retention now rather than in the background. */
  pruneSyncHistory(): Promise<void>
}

class RedisSegmentStore implements RedisStore {
  readonly kind = 'redis'
  private sweeping: Promise<void> = Promise.resolve()
  private closing = false
  private readonly pruner: HistoryPruner

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly where: string,
    readonly warnings: readonly string[],
    historyOptions: HistoryOptions = {}
  ) {
    this.pruner = new HistoryPruner(historyOptions, DEFAULT_HISTORY_RETENTION, async (env, retention) => {
      await this.redis.zremrangebyrank(`${layoutOf(env).ns}history`, 0, -retention - 1)
    })
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } catch (err) {
      throw storeError(err, this.where)
    }
  }

  async apply(env: EnvironmentRef, changes: SegmentChange[], options: ApplyOptions): Promise<ApplyResult> {
    const { includePrefix, synchronizedOn, ns } = layoutOf(env)
    const now = options.now ?? Date.now()
    // One flat argument list: a 1000-op request is a single round trip. Lua has no sha256, so the
    // SDK's hashes are computed here.
    const args: ScriptArg[] = [
      synchronizedOn,
      ns,
      now,
      Date.now(),
      options.allowCreate ? '1' : '0',
      changes.length
    ]
    for (const change of changes) {
      args.push(
        change.segmentKey,
        change.name,
        change.contextKind,
        change.integrationKey,
        change.externalLink ?? '',
        change.ops.length
      )
      for (const op of change.ops)
        args.push(op.included ? '1' : '0', op.contextKey, includePrefix + contextKeyHash(op.contextKey))
    }
    if (options.record) args.push(draftJson(options.record, env), options.record.time)
    const reply = (await this.run(() => this.redis.syncedSegmentsApply(...args))) as [string, ...unknown[]]
    const [status, ...rest] = reply
    if (status === 'conflict') {
      const [segmentKey, existingKind] = rest as [string, string]
      throw new ConflictError(
        `Segment ${segmentKey} exists with context kind '${existingKind}'; its context kind cannot change`
      )
    }
    if (status === 'forbidden') {
      throw new ForbiddenError(
        `Segment ${String(rest[0])} does not exist and the token may not create segments (createSegment)`
      )
    }
    if (options.record) this.pruner.touched(env)
    return { segments: (rest as RawRecord[]).map(toRecord) }
  }

  async recordSync(env: EnvironmentRef, record: SyncRecord): Promise<void> {
    const { ns } = layoutOf(env)
    const segmentKeys = record.operation === 'delete' ? [] : record.segments.map((s) => s.segmentKey)
    await this.run(() =>
      this.redis.syncedSegmentsRecordSync(
        ns,
        JSON.stringify(record),
        record.time,
        record.status,
        ...segmentKeys
      )
    )
    this.pruner.touched(env)
  }

  /** Walks the environment's records newest first, HISTORY_PAGE at a time, keeping those that match. */
  async listSyncHistory(env: EnvironmentRef, query: SyncHistoryQuery): Promise<SyncHistoryPage> {
    const key = `${layoutOf(env).ns}history`
    let below = parseCursor(query.after)
    const items: SyncRecord[] = []
    let lastSeq = 0
    for (;;) {
      const page = await this.run(() =>
        this.redis.zrevrangebyscore(key, `(${below}`, '-inf', 'LIMIT', 0, HISTORY_PAGE)
      )
      for (const json of page) {
        const { seq, ...record } = JSON.parse(json) as SyncRecord & { seq: number }
        below = seq
        if (!matchesQuery(record, query)) continue
        // One more than asked for tells whether another page follows.
        if (items.length === query.limit) return { items, next: String(lastSeq) }
        items.push(record)
        lastSeq = seq
      }
      if (page.length < HISTORY_PAGE) return { items, next: null }
    }
  }

  async pruneSyncHistory(): Promise<void> {
    await this.pruner.flush()
  }

  async synchronizedOn(env: EnvironmentRef): Promise<number | undefined> {
    const value = await this.run(() => this.redis.get(layoutOf(env).synchronizedOn))
    return value === null ? undefined : Number(value)
  }

  async listSegments(
    env: EnvironmentRef,
    page: { limit: number; offset: number }
  ): Promise<Page<SegmentRecord>> {
    const { ns } = layoutOf(env)
    const [totalCount, ...records] = (await this.run(() =>
      this.redis.syncedSegmentsList(ns, Math.max(0, Math.floor(page.offset)), Math.floor(page.limit))
    )) as [number, ...RawRecord[]]
    return { items: records.map(toRecord), totalCount }
  }

  async getSegment(env: EnvironmentRef, segmentKey: string): Promise<SegmentRecord | undefined> {
    const raw = (await this.run(() =>
      this.redis.syncedSegmentsGet(layoutOf(env).ns, segmentKey)
    )) as RawRecord | null
    return raw ? toRecord(raw) : undefined
  }

  async isIncluded(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<boolean> {
    const { ns } = layoutOf(env)
    return (await this.run(() => this.redis.syncedSegmentsIsIncluded(ns, segmentKey, contextKey))) === 1
  }

  async *members(
    env: EnvironmentRef,
    segmentKey: string,
    options: { after?: string; limit?: number }
  ): AsyncIterable<string> {
    const { ns } = layoutOf(env)
    const generation = await this.run(() => this.redis.hget(`${ns}segment:${segmentKey}`, 'generation'))
    if (generation === null) return
    const membersKey = `${ns}members:${segmentKey}.g${generation}`
    let remaining = options.limit === undefined ? Number.POSITIVE_INFINITY : Math.floor(options.limit)
    // Equal scores make ZRANGEBYLEX a byte-wise cursor: '(' excludes the bound itself.
    let min = options.after === undefined ? '-' : `(${options.after}`
    while (remaining > 0) {
      const count = Math.min(MEMBER_PAGE, remaining)
      const page = await this.run(() => this.redis.zrangebylex(membersKey, min, '+', 'LIMIT', 0, count))
      yield* page
      if (page.length < count) return
      remaining -= page.length
      min = `(${page[page.length - 1]}`
    }
  }

  async deleteSegment(
    env: EnvironmentRef,
    segmentKey: string,
    options: { record?: SyncRecordDraft } = {}
  ): Promise<boolean> {
    const layout = layoutOf(env)
    const recordJson = options.record ? draftJson(options.record, env) : ''
    const deleted =
      (await this.run(() =>
        this.redis.syncedSegmentsDelete(layout.ns, segmentKey, layout.synchronizedOn, Date.now(), recordJson)
      )) === 1
    if (deleted) this.sweepLater(layout)
    if (deleted && options.record) this.pruner.touched(env)
    return deleted
  }

  async ping(): Promise<void> {
    await this.run(() => this.redis.ping())
  }

  async close(): Promise<void> {
    this.closing = true
    this.pruner.stop()
    await this.sweeping
    // quit() fails while disconnected (no offline queue); disconnect() then stops reconnecting.
    await this.redis.quit().catch(() => this.redis.disconnect())
  }

  /**
   * Removes deleted generations' refs from the include sets in the background. Stale refs never
   * match (the SDK asks for the current generation), so this only reclaims memory; anything left by
   * a crash or an outage is picked up by the environment's next sweep.
   */
  private sweepLater(layout: Layout): void {
    this.sweeping = this.sweeping.then(() => this.sweep(layout)).catch(() => undefined)
  }

  private async sweep({ ns, includePrefix }: Layout): Promise<void> {
    const garbage = `${ns}garbage`
    while (!this.closing) {
      const ref = await this.redis.srandmember(garbage)
      if (ref === null) return
      const parked = `${garbage}:${ref}`
      // ZPOPMIN hands each member to exactly one sweeper when several receivers sweep at once.
      for (;;) {
        if (this.closing) return
        const popped = await this.redis.zpopmin(parked, SWEEP_PAGE)
        if (popped.length === 0) break
        const pipeline = this.redis.pipeline()
        for (let i = 0; i < popped.length; i += 2)
          pipeline.srem(includePrefix + contextKeyHash(popped[i]), ref)
        await pipeline.exec()
      }
      await this.redis.srem(garbage, ref)
    }
  }
}

/**
 * Opens the Redis store. Rejects with `StoreUnavailableError` when Redis cannot be reached within
 * `connectTimeoutMs`. Afterwards, while Redis is down, calls fail fast with `StoreUnavailableError`
 * (nothing is queued or replayed later), and the client reconnects on its own.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 2_000
  const where = describe(options.url)
  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs ?? 5_000,
    // Fail fast instead of queueing: a queued write could land after its request already got a 503.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    // disconnect() of an already-dropped connection leaves this grace timer behind (ioredis 5).
    disconnectTimeout: 250
  }) as ScriptedRedis
  // Failures surface through the rejected commands; without a listener ioredis logs every retry.
  redis.on('error', () => undefined)
  redis.defineCommand('syncedSegmentsApply', { numberOfKeys: 0, lua: LUA_APPLY })
  redis.defineCommand('syncedSegmentsGet', { numberOfKeys: 0, lua: LUA_GET })
  redis.defineCommand('syncedSegmentsList', { numberOfKeys: 0, lua: LUA_LIST })
  redis.defineCommand('syncedSegmentsIsIncluded', { numberOfKeys: 0, lua: LUA_IS_INCLUDED })
  redis.defineCommand('syncedSegmentsDelete', { numberOfKeys: 0, lua: LUA_DELETE })
  redis.defineCommand('syncedSegmentsRecordSync', { numberOfKeys: 0, lua: LUA_RECORD_SYNC })

  try {
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw storeError(err, where)
  }
  return new RedisSegmentStore(redis, where, await durabilityWarnings(redis, where), options)
}

/**
 * Without append-only persistence a Redis crash loses every write since its last snapshot, acknowledged
 * or not. Servers that refuse CONFIG (managed services, ACLs) are taken on trust: no warning.
 */
async function durabilityWarnings(redis: Redis, where: string): Promise<string[]> {
  let reply: unknown
  try {
    reply = await redis.config('GET', 'appendonly')
  } catch {
    return []
  }
  const fields = Array.isArray(reply) ? reply.map(String) : []
  const at = fields.indexOf('appendonly')
  if (at < 0 || fields[at + 1] !== 'no') return []
  return [
    `Redis at ${where} has appendonly no: acknowledged writes since its last snapshot are lost if Redis crashes (set appendonly yes)`
  ]
}
