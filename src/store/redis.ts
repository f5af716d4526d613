/**
 * The Redis store (SPEC §C2): several receivers share one Redis, and LaunchDarkly's server-side SDKs
 * read big-segment membership straight from it.
 *
 * Layout per environment, with `<prefix>` = the environment's `redisPrefix` (default `launchdarkly`):
 *
 *   <prefix>:big_segment_include:<base64(sha256(contextKey))>   SET of `<segmentKey>.g<generation>`
 *   <prefix>:big_segments_synchronized_on                        Unix ms of the last write
 *
 *   <prefix>:big_segment_exclude:<base64(sha256(contextKey))>   SET of `<segmentKey>.g<generation>` (excluded targets)
 *
 * Those three are exactly what `@launchdarkly/node-server-sdk-redis`'s RedisBigSegmentStore reads
 * (an included ref wins over an excluded one there, as in LaunchDarkly). The receiver's own
 * data lives beside them, namespaced by project and environment (`<ns>` = `<prefix>:synced_segments:<project>/<environment>:`):
 *
 *   <ns>segments                        ZSET (score 0) of segment keys: listing ordered by key
 *   <ns>segment:<segmentKey>            HASH name, kind, generation, creationDate, lastModifiedDate, external, version[, externalLink, cohortId]
 *   <ns>generations                     HASH segmentKey → last generation used (survives deletes)
 *   <ns>members:<segmentKey>.g<gen>     ZSET (score 0) of included context keys: byte-wise cursor paging, ZCARD count
 *   <ns>excluded:<segmentKey>.g<gen>    ZSET (score 0) of excluded context keys
 *   <ns>garbage / <ns>garbage:<ref>     member sets of deleted generations, swept from the include sets lazily
 *   <ns>garbage_excluded[:<ref>]        the same for excluded sets and the exclude sets
 *   <ns>history / <ns>history:seq       ZSET of sync records (JSON) scored by their sequence number, and
 *                                       the counter; a segment's latest sync is in its HASH (lastSync*)
 *
 * Every write is one Lua script, so a request is applied entirely or not at all and two receivers
 * racing to create a segment create it once. Scripts build key names from their arguments, so the
 * store needs one Redis (or a primary with replicas), not Redis Cluster.
 */
import * as crypto from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { HttpError, ConflictError, ForbiddenError, StoreUnavailableError } from '../errors'
import { networkCause } from '../network-cause'
import { cohortConflict } from './conflicts'
import {
  ABANDONED,
  importRunning,
  isRunning,
  JOB_RETENTION_MS,
  newImportRecord,
  segmentMissing,
  unknownImport
} from './bulk'
import {
  HistoryPruner,
  importRecord,
  matchesQuery,
  parseCursor,
  successHead,
  type HistoryOptions
} from './history'
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
  type ContextMembership,
  type EnvironmentRef,
  type ListOptions,
  type ExportRecord,
  type ImportMode,
  type ImportRecord,
  type Page,
  type SegmentChange,
  type SegmentFilter,
  type SegmentRecord,
  type SegmentSortField,
  type SegmentStore,
  type TargetsUpdate
} from './types'

export interface RedisStoreOptions extends HistoryOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string
  /** How long opening (and each reconnect attempt) may take before giving up (default 2,000 ms). */
  connectTimeoutMs?: number
  /** How long one command may take before it fails with a 503 (default 5,000 ms). */
  commandTimeoutMs?: number
  /** How long an import's lease outlives its receiver (default 30,000 ms); renewed every third of it. */
  importLeaseMs?: number
}

/** Members read from Redis per round trip while streaming; bounds memory whatever the segment size. */
const MEMBER_PAGE = 1000
/** Deleted members removed from the include sets per round trip while sweeping. */
const SWEEP_PAGE = 1000
/** History records read per round trip while filtering a history query. */
const HISTORY_PAGE = 200
/** Members per ZADD/ZREM inside the apply script (Lua's unpack is bounded by its C stack). */
const MEMBER_RUN = 1000
/** Keys per script while an import is applied: each script stays short, so Redis stays responsive. */
const APPLY_CHUNK = 5000
/** Import scripts kept in flight: the next chunk is read and packed while Redis applies the last. */
const IMPORT_IN_FLIGHT = 2
/** How long an import's lease lasts unless its receiver renews it (every third of that, and every chunk). */
const IMPORT_LEASE_MS = 30_000
const JOB_RETENTION_SECONDS = Math.floor(JOB_RETENTION_MS / 1000)
const LEASE_LOST = 'the import lost its lease: Redis was unreachable for too long while it ran'
const SEGMENT_GONE = 'the segment was deleted, or the import lost its lease, while the import was applied'

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

/** Reads one segment's record: `{ key, includedCount, HGETALL fields, excludedCount }`, or false when absent. */
const LUA_RECORD = `
local function record(ns, key)
  local fields = redis.call('HGETALL', ns .. 'segment:' .. key)
  if #fields == 0 then return false end
  local generation
  for i = 1, #fields, 2 do
    if fields[i] == 'generation' then generation = fields[i + 1] end
  end
  local ref = key .. '.g' .. generation
  return { key, redis.call('ZCARD', ns .. 'members:' .. ref), fields, redis.call('ZCARD', ns .. 'excluded:' .. ref) }
end
`

/**
 * ARGV: synchronizedOnKey, ns, now, syncedAt, allowCreate ('1'|'0'), changeCount, then
 * per change: segmentKey, name, contextKind, integrationKey, externalLink ('' = none), cohortId ('' = none),
 * opCount, then per op: '1' (include) | '0' (exclude), contextKey, its include-set key
 * (`<prefix>:big_segment_include:<hash>`).
 * last, the sync record's JSON without segments and members ('' = no record) and its time.
 * Every change is checked before anything is written, so a 409 or 403 leaves Redis untouched.
 */
const LUA_APPLY = `${LUA_RECORD}${LUA_HISTORY}
local syncedOnKey, ns, now, syncedAt = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local allowCreate, changeCount = ARGV[5] == '1', tonumber(ARGV[6])

local changes, kinds, cohorts, at = {}, {}, {}, 7
for c = 1, changeCount do
  local change = { key = ARGV[at], name = ARGV[at + 1], kind = ARGV[at + 2], external = ARGV[at + 3],
    link = ARGV[at + 4], cohort = ARGV[at + 5], first = at + 7, last = at + 6 + tonumber(ARGV[at + 6]) * 3 }
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
  -- The cohort a key was created for (or first synced with, for segments older than the rule).
  local cohort = cohorts[change.key]
  if cohort == nil then cohort = redis.call('HGET', ns .. 'segment:' .. change.key, 'cohortId') end
  if change.cohort ~= '' then
    if cohort and cohort ~= change.cohort then return { 'cohort_conflict', change.key, cohort, change.cohort } end
    cohorts[change.key] = change.cohort
  else
    cohorts[change.key] = cohort
  end
end

for _, change in ipairs(changes) do
  local segmentKey = ns .. 'segment:' .. change.key
  local generation = redis.call('HGET', segmentKey, 'generation')
  if generation == false then
    generation = redis.call('HINCRBY', ns .. 'generations', change.key, 1)
    redis.call('HSET', segmentKey, 'kind', change.kind, 'generation', generation, 'creationDate', now,
      'external', change.external, 'version', 1)
    redis.call('ZADD', ns .. 'segments', 0, change.key)
  else
    local current = redis.call('HMGET', segmentKey, 'name', 'externalLink', 'version')
    if current[1] ~= change.name or (change.link ~= '' and current[2] ~= change.link) then
      redis.call('HSET', segmentKey, 'version', tonumber(current[3] or '1') + 1)
    end
  end
  redis.call('HSET', segmentKey, 'name', change.name, 'lastModifiedDate', now)
  if change.link ~= '' then redis.call('HSET', segmentKey, 'externalLink', change.link) end
  if change.cohort ~= '' then redis.call('HSETNX', segmentKey, 'cohortId', change.cohort) end
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

/** ARGV: ns. Every record of the environment, for a sorted or filtered listing. */
const LUA_LIST_ALL = `${LUA_RECORD}
local ns = ARGV[1]
local result = {}
for _, key in ipairs(redis.call('ZRANGE', ns .. 'segments', 0, -1)) do result[#result + 1] = record(ns, key) end
return result
`

/** ARGV: ns, segmentKey, contextKey. Returns { included (0|1), excluded (0|1) }. */
const LUA_MEMBERSHIP = `
local ns, key = ARGV[1], ARGV[2]
local generation = redis.call('HGET', ns .. 'segment:' .. key, 'generation')
if generation == false then return { 0, 0 } end
local ref = key .. '.g' .. generation
local included = redis.call('ZSCORE', ns .. 'members:' .. ref, ARGV[3]) and 1 or 0
local excluded = redis.call('ZSCORE', ns .. 'excluded:' .. ref, ARGV[3]) and 1 or 0
return { included, excluded }
`

/**
 * ARGV: ns, segmentKey, synchronizedOnKey, now, syncedAt, then four counts (included removes,
 * included adds, excluded removes, excluded adds) and per key: contextKey, its include- or
 * exclude-set key. Removes run before adds. Returns the record after the change, or false.
 */
const LUA_TARGETS = `${LUA_RECORD}${LUA_HISTORY}
local ns, key, syncedOnKey, now, syncedAt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local segmentKey = ns .. 'segment:' .. key
local generation = redis.call('HGET', segmentKey, 'generation')
if generation == false then return false end
local ref = key .. '.g' .. generation
local lists = { { 'members:', false }, { 'members:', true }, { 'excluded:', false }, { 'excluded:', true } }
local at = 10
-- What each list really changed (ZADD / ZREM answer it): the included list's are the record's counts.
local changed = { 0, 0, 0, 0 }
for l = 1, 4 do
  local setKey, add = ns .. lists[l][1] .. ref, lists[l][2]
  for _ = 1, tonumber(ARGV[5 + l]) do
    if add then
      changed[l] = changed[l] + redis.call('ZADD', setKey, 0, ARGV[at])
      redis.call('SADD', ARGV[at + 1], ref)
    else
      changed[l] = changed[l] + redis.call('ZREM', setKey, ARGV[at])
      redis.call('SREM', ARGV[at + 1], ref)
    end
    at = at + 2
  end
end
redis.call('HSET', segmentKey, 'lastModifiedDate', now)
if tonumber(syncedAt) > tonumber(redis.call('GET', syncedOnKey) or '0') then
  redis.call('SET', syncedOnKey, syncedAt)
end
local recordJson, recordTime = ARGV[at], ARGV[at + 1]
if recordJson ~= nil and recordJson ~= '' then
  local included = tonumber(ARGV[6]) + tonumber(ARGV[7])
  local members = included + tonumber(ARGV[8]) + tonumber(ARGV[9])
  local added, removed = changed[2], changed[1]
  setLastSync(ns, key, recordTime, 'success', added, removed)
  appendHistory(ns, string.sub(recordJson, 1, -2) .. ',"segments":[{"segmentKey":' .. cjson.encode(key) ..
    ',"added":' .. added .. ',"removed":' .. removed .. ',"unchanged":' .. (included - added - removed) ..
    '}],"members":' .. members .. '}')
end
return record(ns, key)
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
local excludedKey = ns .. 'excluded:' .. ref
if redis.call('EXISTS', excludedKey) == 1 then
  redis.call('RENAME', excludedKey, ns .. 'garbage_excluded:' .. ref)
  redis.call('SADD', ns .. 'garbage_excluded', ref)
end
if tonumber(syncedAt) > tonumber(redis.call('GET', syncedOnKey) or '0') then
  redis.call('SET', syncedOnKey, syncedAt)
end
return 1
`

/**
 * ARGV: now, then each environment's synchronizedOnKey (§C3, the heartbeat). Like a write, it never
 * moves a mark backwards when receivers' clocks disagree. Sent with EVAL: it runs every 30 s or so.
 */
const LUA_MARK_SYNCHRONIZED = `
local now = tonumber(ARGV[1])
for i = 2, #ARGV do
  if now > tonumber(redis.call('GET', ARGV[i]) or '0') then redis.call('SET', ARGV[i], ARGV[1]) end
end
return #ARGV - 1
`

/**
 * Imports (§B7). Keys: `<ns>job:<kind>:<id>` the JSON record of an import or export;
 * `<ns>importing:<segmentKey>` the id of the import running into that segment, a lease that its
 * receiver renews while it runs (a receiver that dies lets it lapse). The staged keys stay with
 * the importing receiver, in a local file (staging.ts), until they are applied.
 */

/** ARGV: ns, segmentKey, importId, record JSON, leaseMs, retentionSeconds. */
const LUA_BEGIN_IMPORT = `
local ns, key, id = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', ns .. 'segment:' .. key) == 0 then return 'not_found' end
if not redis.call('SET', ns .. 'importing:' .. key, id, 'NX', 'PX', ARGV[5]) then return 'conflict' end
redis.call('SET', ns .. 'job:import:' .. id, ARGV[4], 'EX', ARGV[6])
return redis.call('HGET', ns .. 'segment:' .. key, 'generation')
`

/** Renews the lease when it is still this import's; the rest of a script runs only then. */
const LUA_LEASE = `
local function renew(leaseKey, id, lease)
  if redis.call('GET', leaseKey) ~= id then return false end
  redis.call('PEXPIRE', leaseKey, lease)
  return true
end
`

/** ARGV: leaseKey, importId, leaseMs. 1 when renewed, 0 when the lease is no longer this import's. */
const LUA_RENEW_IMPORT = `${LUA_LEASE}
if renew(ARGV[1], ARGV[2], ARGV[3]) then return 1 end
return 0
`

/**
 * ARGV: leaseKey, importId, leaseMs, segmentHashKey, generation, membersKey, ref,
 * synchronizedOnKey, syncedAt, mode ('add' | 'remove'), includePrefix, then the chunk packed in
 * three strings: the keys' byte lengths (comma-separated), the keys end to end, and their
 * 44-character hashes end to end. Packed, a chunk of 5,000 keys is 3 arguments, not 10,000: the
 * client's encoding of each argument cost more than the script. 'add' includes every key (already
 * included ones are left as they are), 'remove' drops every key.
 * Returns the number changed, or -1 when the lease is lost or the segment was deleted.
 */
const LUA_IMPORT_CHUNK = `${LUA_LEASE}
if redis.call('HGET', ARGV[4], 'generation') ~= ARGV[5] then return -1 end
if not renew(ARGV[1], ARGV[2], ARGV[3]) then return -1 end
local membersKey, ref, prefix = ARGV[6], ARGV[7], ARGV[11]
local keys, hashes = ARGV[13], ARGV[14]
local adding = ARGV[10] == 'add'
local changed = 0
local run = {}
local function flush()
  if #run == 0 then return end
  if adding then
    changed = changed + redis.call('ZADD', membersKey, 'NX', unpack(run))
  else
    changed = changed + redis.call('ZREM', membersKey, unpack(run))
  end
  run = {}
end
local at, hashAt = 1, 1
for length in string.gmatch(ARGV[12], '%d+') do
  local last = at + tonumber(length) - 1
  local key = string.sub(keys, at, last)
  local set = prefix .. string.sub(hashes, hashAt, hashAt + 43)
  at, hashAt = last + 1, hashAt + 44
  if adding then
    run[#run + 1] = 0
    run[#run + 1] = key
    redis.call('SADD', set, ref)
  else
    run[#run + 1] = key
    redis.call('SREM', set, ref)
  end
  if #run >= ${2 * MEMBER_RUN} then flush() end
end
flush()
if changed > 0 and tonumber(ARGV[9]) > tonumber(redis.call('GET', ARGV[8]) or '0') then
  redis.call('SET', ARGV[8], ARGV[9])
end
return changed
`

/**
 * ARGV: leaseKey, importId, jobKey, record JSON, retentionSeconds[, segmentHashKey, now[, ns,
 * segmentKey, the sync record's JSON, its time, added, removed]]: a completed import marks its
 * segment modified and, with a sync record, appends it to the history in the same script.
 */
const LUA_END_IMPORT = `${LUA_HISTORY}
if redis.call('GET', ARGV[1]) == ARGV[2] then redis.call('DEL', ARGV[1]) end
redis.call('SET', ARGV[3], ARGV[4], 'EX', ARGV[5])
if ARGV[6] and redis.call('EXISTS', ARGV[6]) == 1 then
  redis.call('HSET', ARGV[6], 'lastModifiedDate', ARGV[7])
  if ARGV[8] then
    appendHistory(ARGV[8], ARGV[10])
    setLastSync(ARGV[8], ARGV[9], ARGV[11], 'success', ARGV[12], ARGV[13])
  end
end
return 1
`

/** ARGV: ns, the record's JSON: the record of a request that changed nothing (segments untouched). */
const LUA_RECORD_SYNC = `${LUA_HISTORY}
appendHistory(ARGV[1], ARGV[2])
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
  syncedSegmentsListAll: Script
  syncedSegmentsMembership: Script
  syncedSegmentsTargets: Script

  syncedSegmentsBeginImport: Script
  syncedSegmentsRenewImport: Script
  syncedSegmentsImportChunk: Script
  syncedSegmentsEndImport: Script
  syncedSegmentsRecordSync: Script
}

/** Raw record as the scripts return it: key, includedCount, flat HGETALL, excludedCount. */
type RawRecord = [string, number, string[], number]

interface Layout {
  includePrefix: string
  excludePrefix: string
  synchronizedOn: string
  ns: string
}

function layoutOf(env: EnvironmentRef): Layout {
  const prefix = env.redisPrefix ?? DEFAULT_REDIS_PREFIX
  // Encoded so that e.g. project `a/b` + environment `c` and project `a` + environment `b/c` differ.
  const scope = `${encodeURIComponent(env.projectKey)}/${encodeURIComponent(env.environmentKey)}`
  return {
    includePrefix: `${prefix}:big_segment_include:`,
    excludePrefix: `${prefix}:big_segment_exclude:`,
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

function toRecord([key, includedCount, fields, excludedCount]: RawRecord): SegmentRecord {
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
    includedCount,
    excludedCount,
    version: Number(hash.version ?? 1)
  }
  if (hash.externalLink !== undefined) record._externalLink = hash.externalLink
  if (hash.cohortId !== undefined) record.cohortId = hash.cohortId
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

/** Byte-wise (UTF-8) order, as SQLite's BINARY collation and the members cursor compare. */
function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** ASCII-only lower case, as SQLite's lower() (the two stores must match the same segments). */
function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (run) => run.toLowerCase())
}

const SORT_VALUE: Record<SegmentSortField, (record: SegmentRecord) => string | number> = {
  name: (record) => record.name,
  creationDate: (record) => record.creationDate,
  lastModified: (record) => record.lastModifiedDate
}

function matches(record: SegmentRecord, filter: SegmentFilter): boolean {
  const { query, external, includedKeys, excludedKeys } = filter
  if (query !== undefined) {
    const key = asciiLower(record.key)
    const name = asciiLower(record.name)
    if (!query.some((text) => key.includes(asciiLower(text)) || name.includes(asciiLower(text)))) return false
  }
  if (Array.isArray(external) && !external.includes(record._external)) return false
  if (includedKeys !== undefined && !includedKeys.includes(record.key)) return false
  return excludedKeys === undefined || !excludedKeys.includes(record.key)
}

/** One page of a sorted, filtered listing of every record (ties by key, as SQLite orders them). */
function selectPage(records: SegmentRecord[], options: ListOptions): Page<SegmentRecord> {
  const selected = options.filter
    ? records.filter((record) => matches(record, options.filter as SegmentFilter))
    : records
  const sorts = options.sort ?? []
  selected.sort((a, b) => {
    for (const { field, descending } of sorts) {
      const x = SORT_VALUE[field](a)
      const y = SORT_VALUE[field](b)
      const order = typeof x === 'string' ? byteCompare(x, y as string) : x - (y as number)
      if (order !== 0) return descending ? -order : order
    }
    return byteCompare(a.key, b.key)
  })
  return {
    items: selected.slice(options.offset, options.offset + options.limit),
    totalCount: selected.length
  }
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
  return new StoreUnavailableError(`Redis store unavailable (${where}): ${unavailableCause(err)}`)
}

/** The cause in our words: ioredis's own messages ("Connection is closed.") say nothing to a client. */
function unavailableCause(err: unknown): string {
  // Not `instanceof Error`: socket errors may come from another realm (jest's vm contexts).
  const { name = '', message = String(err) } = (err ?? {}) as { name?: string; message?: string }
  const cause = networkCause(err)
  if (cause) return cause
  if (name === 'ReplyError') return `Redis answered ${message.split(' ')[0]}`
  if (/timed? ?out/i.test(message)) return 'no answer in time'
  return 'not connected'
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
  /** `host:port[/db]` of the Redis server, without credentials (for `/status`). */
  readonly server: string
  /**
   * Sets each environment's `<prefix>:big_segments_synchronized_on` to `now` (never backwards): the
   * receiver's heartbeat, so LaunchDarkly's SDKs keep reporting HEALTHY between syncs (§C3).
   */
  markSynchronized(envs: readonly EnvironmentRef[], now?: number): Promise<void>
  /** The environment's `<prefix>:big_segments_synchronized_on` in Unix ms, undefined when never written. */
  synchronizedOn(env: EnvironmentRef): Promise<number | undefined>
  /** Prunes every environment's history to its retention now rather than in the background. */
  pruneSyncHistory(): Promise<void>
}

/** An import this receiver is running, with the segment generation it began on. */
interface RedisImport {
  env: EnvironmentRef
  record: ImportRecord
  generation: string
  /** The local staging file, once staging began. */
  file?: string
  /** Renews the lease while the import runs. */
  renewal?: NodeJS.Timeout
  /** Set when a renewal found the lease taken: the import must stop. */
  leaseLost: boolean
}

class RedisSegmentStore implements RedisStore {
  readonly kind = 'redis'
  private readonly imports = new Map<string, RedisImport>()
  private sweeping: Promise<void> = Promise.resolve()
  private closing = false
  private readonly pruner: HistoryPruner

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly where: string,
    readonly warnings: readonly string[],
    historyOptions: HistoryOptions = {},
    private readonly leaseMs = IMPORT_LEASE_MS
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
        change.cohortId ?? '',
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
    if (status === 'cohort_conflict') {
      const [segmentKey, existingCohortId, cohortId] = rest as [string, string, string]
      throw cohortConflict(segmentKey, existingCohortId, cohortId)
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
    await this.run(() => this.redis.syncedSegmentsRecordSync(layoutOf(env).ns, JSON.stringify(record)))
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

  async listSegments(env: EnvironmentRef, page: ListOptions): Promise<Page<SegmentRecord>> {
    const { ns } = layoutOf(env)
    if (page.sort !== undefined || page.filter !== undefined) {
      // Sorting by a hash field or filtering needs every record; one script reads them from one snapshot.
      const all = (await this.run(() => this.redis.syncedSegmentsListAll(ns))) as RawRecord[]
      return selectPage(all.map(toRecord), { ...page, offset: Math.max(0, Math.floor(page.offset)) })
    }
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

  async membership(env: EnvironmentRef, segmentKey: string, contextKey: string): Promise<ContextMembership> {
    const { ns } = layoutOf(env)
    const [included, excluded] = (await this.run(() =>
      this.redis.syncedSegmentsMembership(ns, segmentKey, contextKey)
    )) as [number, number]
    return { included: included === 1, excluded: excluded === 1 }
  }

  async updateTargets(
    env: EnvironmentRef,
    segmentKey: string,
    update: TargetsUpdate,
    options: { now?: number; record?: SyncRecordDraft } = {}
  ): Promise<SegmentRecord | undefined> {
    const layout = layoutOf(env)
    const lists: Array<[string[] | undefined, string]> = [
      [update.included?.remove, layout.includePrefix],
      [update.included?.add, layout.includePrefix],
      [update.excluded?.remove, layout.excludePrefix],
      [update.excluded?.add, layout.excludePrefix]
    ]
    const args: ScriptArg[] = [
      layout.ns,
      segmentKey,
      layout.synchronizedOn,
      options.now ?? Date.now(),
      Date.now()
    ]
    for (const [keys] of lists) args.push(keys?.length ?? 0)
    for (const [keys, prefix] of lists)
      for (const key of keys ?? []) args.push(key, prefix + contextKeyHash(key))
    if (options.record) args.push(draftJson(options.record, env), options.record.time)
    const raw = (await this.run(() => this.redis.syncedSegmentsTargets(...args))) as RawRecord | null
    if (raw && options.record) this.pruner.touched(env)
    return raw ? toRecord(raw) : undefined
  }

  async *members(
    env: EnvironmentRef,
    segmentKey: string,
    options: { after?: string; limit?: number; excluded?: boolean }
  ): AsyncIterable<string> {
    const { ns } = layoutOf(env)
    const generation = await this.run(() => this.redis.hget(`${ns}segment:${segmentKey}`, 'generation'))
    if (generation === null) return
    const membersKey = `${ns}${options.excluded ? 'excluded' : 'members'}:${segmentKey}.g${generation}`
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
    for (const run of this.imports.values()) clearInterval(run.renewal)
    await this.sweeping
    // quit() fails while disconnected (no offline queue); disconnect() then stops reconnecting.
    await this.redis.quit().catch(() => this.redis.disconnect())
  }

  get server(): string {
    return this.where
  }

  async markSynchronized(envs: readonly EnvironmentRef[], now = Date.now()): Promise<void> {
    const keys = [...new Set(envs.map((env) => layoutOf(env).synchronizedOn))]
    if (keys.length === 0) return
    await this.run(() => this.redis.eval(LUA_MARK_SYNCHRONIZED, 0, now, ...keys))
  }

  async synchronizedOn(env: EnvironmentRef): Promise<number | undefined> {
    const value = await this.run(() => this.redis.get(layoutOf(env).synchronizedOn))
    return value === null ? undefined : Number(value)
  }

  // Imports and exports (§B7).

  private async saveJob(
    env: EnvironmentRef,
    kind: 'import' | 'export',
    record: ImportRecord | ExportRecord
  ): Promise<void> {
    const key = `${layoutOf(env).ns}job:${kind}:${record.id}`
    await this.run(() => this.redis.set(key, JSON.stringify(record), 'EX', JOB_RETENTION_SECONDS))
  }

  private async loadJob<T extends { segmentKey: string }>(
    env: EnvironmentRef,
    kind: 'import' | 'export',
    segmentKey: string,
    id: string
  ): Promise<T | undefined> {
    const body = await this.run(() => this.redis.get(`${layoutOf(env).ns}job:${kind}:${id}`))
    const record = body === null ? undefined : (JSON.parse(body) as T)
    return record?.segmentKey === segmentKey ? record : undefined
  }

  private runningImport(env: EnvironmentRef, importId: string): RedisImport | undefined {
    const run = this.imports.get(importId)
    return run !== undefined && layoutOf(run.env).ns === layoutOf(env).ns ? run : undefined
  }

  private importKeys(run: RedisImport): {
    leaseKey: string
    jobKey: string
    segmentHashKey: string
  } {
    const { ns } = layoutOf(run.env)
    return {
      leaseKey: `${ns}importing:${run.record.segmentKey}`,
      jobKey: `${ns}job:import:${run.record.id}`,
      segmentHashKey: `${ns}segment:${run.record.segmentKey}`
    }
  }

  /** Ends an import: drops what it staged, gives up its lease and saves its last record. */
  private async endImport(
    run: RedisImport,
    status: 'complete' | 'stopped',
    error?: string,
    draft?: SyncRecordDraft
  ): Promise<ImportRecord> {
    this.imports.delete(run.record.id)
    clearInterval(run.renewal)
    if (run.file !== undefined) rmSync(run.file, { force: true })
    run.record.status = status
    if (error !== undefined) run.record.error = error
    const { leaseKey, jobKey, segmentHashKey } = this.importKeys(run)
    const args: ScriptArg[] = [
      leaseKey,
      run.record.id,
      jobKey,
      JSON.stringify(run.record),
      JOB_RETENTION_SECONDS
    ]
    if (status === 'complete') {
      const now = Date.now()
      args.push(segmentHashKey, now)
      if (draft) {
        const record = importRecord(draft, run.env, run.record, now)
        args.push(layoutOf(run.env).ns, run.record.segmentKey, JSON.stringify(record), record.time)
        args.push(run.record.added, run.record.removed)
      }
    }
    await this.run(() => this.redis.syncedSegmentsEndImport(...args))
    if (draft && status === 'complete') this.pruner.touched(run.env)
    return { ...run.record }
  }

  /** Stops a failed import when Redis still answers; the lease lapses by itself otherwise. */
  private async failImport(run: RedisImport, error: unknown): Promise<never> {
    if (this.imports.has(run.record.id)) {
      run.record.added = 0
      run.record.removed = 0
      await this.endImport(run, 'stopped', (error as Error).message).catch(() => undefined)
    }
    throw storeError(error, this.where)
  }

  async beginImport(
    env: EnvironmentRef,
    segmentKey: string,
    init: { id: string; mode?: ImportMode; filename?: string; now?: number }
  ): Promise<ImportRecord> {
    const { ns } = layoutOf(env)
    const record = newImportRecord(segmentKey, init)
    const reply = (await this.run(() =>
      this.redis.syncedSegmentsBeginImport(
        ns,
        segmentKey,
        record.id,
        JSON.stringify(record),
        this.leaseMs,
        JOB_RETENTION_SECONDS
      )
    )) as string
    if (reply === 'not_found') throw segmentMissing(env, segmentKey)
    if (reply === 'conflict') throw importRunning(segmentKey)
    const leaseKey = `${ns}importing:${segmentKey}`
    const run: RedisImport = { env, record, generation: reply, leaseLost: false }
    // Renewed while the file uploads and is applied; a failed renewal (Redis away) is retried on the
    // next tick, and a lease found taken stops the import at its next chunk.
    run.renewal = setInterval(() => {
      this.redis
        .syncedSegmentsRenewImport(leaseKey, record.id, this.leaseMs)
        .then((renewed) => {
          if (renewed === 0) run.leaseLost = true
        })
        .catch(() => undefined)
    }, this.leaseMs / 3)
    run.renewal.unref()
    this.imports.set(record.id, run)
    return { ...record }
  }

  async stageImport(
    env: EnvironmentRef,
    importId: string,
    keys: AsyncIterable<readonly string[]>
  ): Promise<ImportRecord> {
    const run = this.runningImport(env, importId)
    if (run === undefined || run.record.status !== 'preparing' || run.file !== undefined)
      throw unknownImport(importId)
    run.file = join(tmpdir(), `synced-segments-import-${importId.replace(/[^A-Za-z0-9-]/g, '_')}`)
    try {
      const { stageKeys } = await import('./staging')
      await stageKeys(run.file, keys, (count) => {
        if (run.leaseLost) throw new StoreUnavailableError(LEASE_LOST)
        if (!this.imports.has(importId)) throw unknownImport(importId)
        run.record.keys += count
      })
      await this.saveJob(env, 'import', run.record)
      return { ...run.record }
    } catch (error) {
      return this.failImport(run, error)
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
    const { record } = run
    record.mode = mode
    record.status = 'in_progress'
    const { includePrefix, synchronizedOn, ns } = layoutOf(env)
    const { leaseKey, segmentHashKey } = this.importKeys(run)
    const ref = `${record.segmentKey}.g${run.generation}`
    const membersKey = `${ns}members:${ref}`
    const apply = async (step: 'add' | 'remove', contextKeys: readonly string[]): Promise<number> => {
      let lengths = ''
      let hashes = ''
      for (const contextKey of contextKeys) {
        lengths += `${Buffer.byteLength(contextKey)},`
        hashes += contextKeyHash(contextKey)
      }
      const count = (await this.run(() =>
        this.redis.syncedSegmentsImportChunk(
          leaseKey,
          importId,
          this.leaseMs,
          segmentHashKey,
          run.generation,
          membersKey,
          ref,
          synchronizedOn,
          Date.now(),
          step,
          includePrefix,
          lengths,
          contextKeys.join(''),
          hashes
        )
      )) as number
      if (count < 0) throw new ConflictError(SEGMENT_GONE)
      return count
    }
    /** Applies the chunks `next` gives, IMPORT_IN_FLIGHT at a time; the sum of what they changed. */
    const pass = async (
      step: 'add' | 'remove',
      next: () => Promise<readonly string[] | undefined>
    ): Promise<number> => {
      let changed = 0
      const inFlight: Promise<void>[] = []
      try {
        for (let chunk = await next(); chunk !== undefined; chunk = await next()) {
          if (chunk.length === 0) continue
          const applying = apply(step, chunk).then((count) => {
            changed += count
          })
          applying.catch(() => undefined)
          inFlight.push(applying)
          if (inFlight.length >= IMPORT_IN_FLIGHT) await inFlight.shift()
        }
        while (inFlight.length > 0) await inFlight.shift()
      } finally {
        await Promise.allSettled(inFlight)
      }
      return changed
    }
    const { StagedKeys } = await import('./staging')
    let staged: InstanceType<typeof StagedKeys> | undefined
    try {
      staged = new StagedKeys(run.file)
      const stagedKeys = staged
      await this.saveJob(env, 'import', record)
      // Removing first: while it runs, the segment never holds a key that is in neither list. The
      // members are read a page ahead, by key, so removing a page does not move the next one.
      if (mode === 'replace') {
        let page: string[] | undefined = await this.run(() =>
          this.redis.zrangebylex(membersKey, '-', '+', 'LIMIT', 0, APPLY_CHUNK)
        )
        record.removed = await pass('remove', async () => {
          if (page === undefined || page.length === 0) return undefined
          const current: string[] = page
          page =
            current.length < APPLY_CHUNK
              ? undefined
              : await this.run(() =>
                  this.redis.zrangebylex(
                    membersKey,
                    `(${current[current.length - 1]}`,
                    '+',
                    'LIMIT',
                    0,
                    APPLY_CHUNK
                  )
                )
          const kept = stagedKeys.staged(current)
          return current.filter((contextKey) => !kept.has(contextKey))
        })
      }
      let after: string | undefined
      record.added = await pass('add', async () => {
        const chunk = stagedKeys.page(after, APPLY_CHUNK)
        if (chunk.length === 0) return undefined
        after = chunk[chunk.length - 1]
        return chunk
      })
      staged.close()
      return await this.endImport(run, 'complete', undefined, options.record)
    } catch (error) {
      staged?.close()
      return this.failImport(run, error)
    }
  }

  async stopImport(env: EnvironmentRef, importId: string, reason: string): Promise<void> {
    const run = this.runningImport(env, importId)
    if (run === undefined || run.record.status !== 'preparing') return
    await this.endImport(run, 'stopped', reason)
  }

  async getImport(
    env: EnvironmentRef,
    segmentKey: string,
    importId: string
  ): Promise<ImportRecord | undefined> {
    const run = this.runningImport(env, importId)
    if (run !== undefined) return run.record.segmentKey === segmentKey ? { ...run.record } : undefined
    const record = await this.loadJob<ImportRecord>(env, 'import', segmentKey, importId)
    if (record === undefined || !isRunning(record.status)) return record
    // Running elsewhere while its receiver holds the lease; abandoned once the lease lapsed.
    const holder = await this.run(() => this.redis.get(`${layoutOf(env).ns}importing:${segmentKey}`))
    return holder === importId ? record : { ...record, status: 'stopped', error: ABANDONED }
  }

  async segmentsImporting(env: EnvironmentRef, segmentKeys: readonly string[]): Promise<Set<string>> {
    if (segmentKeys.length === 0) return new Set()
    const { ns } = layoutOf(env)
    const holders = await this.run(() => this.redis.mget(segmentKeys.map((key) => `${ns}importing:${key}`)))
    return new Set(segmentKeys.filter((_, i) => holders[i] !== null))
  }

  async saveExport(env: EnvironmentRef, record: ExportRecord): Promise<void> {
    await this.saveJob(env, 'export', record)
  }

  async getExport(
    env: EnvironmentRef,
    segmentKey: string,
    exportId: string
  ): Promise<ExportRecord | undefined> {
    return this.loadJob<ExportRecord>(env, 'export', segmentKey, exportId)
  }

  /**
   * Removes deleted generations' refs from the include sets in the background. Stale refs never
   * match (the SDK asks for the current generation), so this only reclaims memory; anything left by
   * a crash or an outage is picked up by the environment's next sweep.
   */
  private sweepLater(layout: Layout): void {
    this.sweeping = this.sweeping
      .then(() => this.sweep(`${layout.ns}garbage`, layout.includePrefix))
      .then(() => this.sweep(`${layout.ns}garbage_excluded`, layout.excludePrefix))
      .catch(() => undefined)
  }

  private async sweep(garbage: string, refSetPrefix: string): Promise<void> {
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
          pipeline.srem(refSetPrefix + contextKeyHash(popped[i]), ref)
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
  // The socket's own error (ECONNREFUSED…) is kept: connect() rejects only with "Connection is closed."
  let socketError: unknown
  redis.on('error', (error) => (socketError = error))
  redis.defineCommand('syncedSegmentsApply', { numberOfKeys: 0, lua: LUA_APPLY })
  redis.defineCommand('syncedSegmentsGet', { numberOfKeys: 0, lua: LUA_GET })
  redis.defineCommand('syncedSegmentsList', { numberOfKeys: 0, lua: LUA_LIST })
  redis.defineCommand('syncedSegmentsIsIncluded', { numberOfKeys: 0, lua: LUA_IS_INCLUDED })
  redis.defineCommand('syncedSegmentsDelete', { numberOfKeys: 0, lua: LUA_DELETE })
  redis.defineCommand('syncedSegmentsListAll', { numberOfKeys: 0, lua: LUA_LIST_ALL })
  redis.defineCommand('syncedSegmentsMembership', { numberOfKeys: 0, lua: LUA_MEMBERSHIP })
  redis.defineCommand('syncedSegmentsTargets', { numberOfKeys: 0, lua: LUA_TARGETS })

  redis.defineCommand('syncedSegmentsBeginImport', { numberOfKeys: 0, lua: LUA_BEGIN_IMPORT })
  redis.defineCommand('syncedSegmentsRenewImport', { numberOfKeys: 0, lua: LUA_RENEW_IMPORT })
  redis.defineCommand('syncedSegmentsImportChunk', { numberOfKeys: 0, lua: LUA_IMPORT_CHUNK })
  redis.defineCommand('syncedSegmentsEndImport', { numberOfKeys: 0, lua: LUA_END_IMPORT })
  redis.defineCommand('syncedSegmentsRecordSync', { numberOfKeys: 0, lua: LUA_RECORD_SYNC })

  try {
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw storeError(socketError ?? err, where)
  }
  return new RedisSegmentStore(
    redis,
    where,
    await durabilityWarnings(redis, where),
    options,
    options.importLeaseMs ?? IMPORT_LEASE_MS
  )
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
