/**
 * The sync history of both stores (SPEC §F): counts exactly right against a model, records written
 * with their change or not at all, filters and cursor paging, `_lastSync`, retention, the SQLite
 * migration of an existing file, and one Redis history shared by two receivers.
 */
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConflictError } from '../../src/errors'
import { openRedisStore } from '../../src/store/redis'
import { MIGRATIONS, SqliteSegmentStore } from '../../src/store/sqlite'
import type {
  EnvironmentRef,
  MembershipOp,
  SegmentStore,
  SyncRecord,
  SyncRecordDraft,
  SyncSegmentCounts
} from '../../src/store/types'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { adds, change, removes } from './contract'

type PrunableStore = SegmentStore & { pruneSyncHistory(): Promise<void> }

let server: RedisServer
const dirs: string[] = []

beforeAll(async () => {
  server = await startRedisServer()
})

afterAll(async () => {
  await server?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'synced-segments-history-'))
  dirs.push(dir)
  return dir
}

const OPENERS: Record<string, (retention?: number) => Promise<PrunableStore>> = {
  sqlite: async (retention) =>
    new SqliteSegmentStore(join(tempDir(), 'segments.db'), {
      historyRetention: retention,
      historyPruneIntervalMs: 10
    }),
  redis: async (retention) =>
    (await openRedisStore({
      url: server.url,
      historyRetention: retention,
      historyPruneIntervalMs: 10
    })) as PrunableStore
}

function freshEnv(): EnvironmentRef {
  const id = randomUUID().slice(0, 8)
  return { projectKey: `p-${id}`, environmentKey: 'production', redisPrefix: `ss-history-${id}` }
}

let requestCounter = 0
function draft(extra: Partial<SyncRecordDraft> = {}): SyncRecordDraft {
  requestCounter += 1
  return {
    requestId: `req-${requestCounter}`,
    time: Date.now(),
    operation: 'segment-targets',
    integration: 'segment-audiences',
    tokenName: 'writer',
    statusCode: 204,
    ...extra
  }
}

function errorRecord(env: EnvironmentRef, segmentKeys: string[]): SyncRecord {
  return {
    ...draft({ statusCode: 409 }),
    projectKey: env.projectKey,
    environmentKey: env.environmentKey,
    segments: segmentKeys.map((segmentKey) => ({ segmentKey, added: 0, removed: 0, unchanged: 0 })),
    members: 0,
    status: 'error',
    error: { code: 'conflict', message: 'kind differs' },
    durationMs: 1
  }
}

/** The counts a request must get, computed from a plain set per segment (the ops de-duplicated, last wins). */
function modelCounts(
  model: Map<string, Set<string>>,
  segmentKey: string,
  ops: MembershipOp[]
): SyncSegmentCounts {
  const members = model.get(segmentKey) ?? new Set<string>()
  model.set(segmentKey, members)
  const last = new Map<string, boolean>()
  for (const op of ops) last.set(op.contextKey, op.included)
  const counts = { segmentKey, added: 0, removed: 0, unchanged: 0 }
  for (const [key, included] of last) {
    if (included && !members.has(key)) {
      members.add(key)
      counts.added += 1
    } else if (!included && members.has(key)) {
      members.delete(key)
      counts.removed += 1
    } else counts.unchanged += 1
  }
  return counts
}

/** De-duplicated as the parser hands ops to the store: first appearance's order, last op. */
function dedup(ops: MembershipOp[]): MembershipOp[] {
  const last = new Map<string, boolean>()
  for (const op of ops) last.set(op.contextKey, op.included)
  return [...last].map(([contextKey, included]) => ({ contextKey, included }))
}

async function allRecords(store: SegmentStore, env: EnvironmentRef): Promise<SyncRecord[]> {
  return (await store.listSyncHistory(env, { limit: 100_000 })).items
}

describe.each(Object.keys(OPENERS))('sync history: %s', (kind) => {
  let store: PrunableStore
  let env: EnvironmentRef

  beforeEach(async () => {
    store = await OPENERS[kind]()
    env = freshEnv()
  })

  afterEach(async () => {
    await store.close()
  })

  it('counts adds, removes, no-op re-adds and removes of absent keys exactly, against a model', async () => {
    const segmentKeys = ['seg-a', 'seg-b', 'seg-c']
    const op = fc.record({
      contextKey: fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5', 'k6'),
      included: fc.boolean()
    })
    const request = fc.array(
      fc.record({
        segment: fc.constantFrom(...segmentKeys),
        ops: fc.array(op, { minLength: 0, maxLength: 12 })
      }),
      { minLength: 1, maxLength: 3 }
    )
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 6 }), async (requests) => {
        const runEnv = freshEnv()
        const model = new Map<string, Set<string>>()
        const expected: SyncSegmentCounts[][] = []
        for (const cohorts of requests) {
          // One change per segment, as the parser groups a request's members by cohort.
          const bySegment = new Map<string, MembershipOp[]>()
          for (const cohort of cohorts)
            bySegment.set(cohort.segment, [...(bySegment.get(cohort.segment) ?? []), ...cohort.ops])
          const changes = [...bySegment].map(([segmentKey, ops]) => change(segmentKey, dedup(ops)))
          expected.push(changes.map((c) => modelCounts(model, c.segmentKey, c.ops)))
          const result = await store.apply(runEnv, changes, { allowCreate: true, record: draft() })
          result.segments.forEach((segment, i) => {
            expect(segment.includedCount).toBe(model.get(segment.key)?.size)
            expect(segment._lastSync).toMatchObject({ status: 'success', added: expected.at(-1)?.[i].added })
          })
        }
        const records = (await allRecords(store, runEnv)).reverse()
        expect(records.map((r) => r.segments)).toEqual(expected)
        records.forEach((record, i) => {
          const total = expected[i].reduce((sum, c) => sum + c.added + c.removed + c.unchanged, 0)
          expect(record).toMatchObject({
            status: 'success',
            statusCode: 204,
            members: total,
            tokenName: 'writer'
          })
        })
      }),
      { numRuns: 25 }
    )
  })

  it('keeps the request id, time, integration, token name, environment and duration of a 2xx', async () => {
    const d = draft({ integration: 'hightouch', tokenName: 'partner', statusCode: 200, time: Date.now() - 5 })
    await store.apply(env, [change('seg', adds('a', 'b')), change('other', removes('x'))], {
      allowCreate: true,
      record: d
    })
    const [record] = await allRecords(store, env)
    expect(record).toEqual({
      requestId: d.requestId,
      time: d.time,
      operation: 'segment-targets',
      integration: 'hightouch',
      tokenName: 'partner',
      projectKey: env.projectKey,
      environmentKey: env.environmentKey,
      segments: [
        { segmentKey: 'seg', added: 2, removed: 0, unchanged: 0 },
        { segmentKey: 'other', added: 0, removed: 0, unchanged: 1 }
      ],
      members: 3,
      status: 'success',
      statusCode: 200,
      durationMs: expect.any(Number)
    })
    expect(record.durationMs).toBeGreaterThanOrEqual(5)
  })

  it('writes no record for a rejected apply, and no record without a draft', async () => {
    await store.apply(env, [change('seg', adds('a'))], { allowCreate: true })
    await expect(
      store.apply(env, [change('fresh', adds('b')), change('seg', adds('c'), { contextKind: 'device' })], {
        allowCreate: true,
        record: draft()
      })
    ).rejects.toBeInstanceOf(ConflictError)
    expect(await allRecords(store, env)).toEqual([])
    expect((await store.getSegment(env, 'seg'))?._lastSync).toBeUndefined()
  })

  it('records a rejected request with its reason and leaves its segments as they were', async () => {
    await store.apply(env, [change('seg', adds('a'))], { allowCreate: true, record: draft() })
    const before = await store.getSegment(env, 'seg')
    const rejected = errorRecord(env, ['seg', 'absent'])
    await store.recordSync(env, rejected)
    const [latest] = await allRecords(store, env)
    expect(latest).toEqual(rejected)
    expect(await store.getSegment(env, 'seg')).toEqual(before)
    expect(await store.getSegment(env, 'absent')).toBeUndefined()
  })

  it('records a delete with the members it removed', async () => {
    await store.apply(env, [change('seg', adds('a', 'b', 'c'))], { allowCreate: true })
    const d = draft({ operation: 'delete', integration: '' })
    expect(await store.deleteSegment(env, 'seg', { record: d })).toBe(true)
    const [record] = await allRecords(store, env)
    expect(record).toMatchObject({
      requestId: d.requestId,
      operation: 'delete',
      segments: [{ segmentKey: 'seg', added: 0, removed: 3, unchanged: 0 }],
      members: 0,
      status: 'success'
    })
    expect(await store.deleteSegment(env, 'seg', { record: draft() })).toBe(false)
    expect(await allRecords(store, env)).toHaveLength(1)
  })

  it('records a POST …/contexts edit in its own transaction, counting the included list', async () => {
    await store.apply(env, [change('seg', adds('a', 'b'))], { allowCreate: true })
    const d = draft({ operation: 'contexts', integration: '' })
    const updated = await store.updateTargets(
      env,
      'seg',
      { included: { add: ['b', 'c', 'd'], remove: ['a', 'absent'] }, excluded: { add: ['x'] } },
      { record: d }
    )
    expect(updated).toMatchObject({ includedCount: 3, excludedCount: 1 })
    const [record] = await allRecords(store, env)
    expect(record).toMatchObject({
      requestId: d.requestId,
      operation: 'contexts',
      // b was already in, absent was never: unchanged; x only counts among the members named.
      segments: [{ segmentKey: 'seg', added: 2, removed: 1, unchanged: 2 }],
      members: 6,
      status: 'success'
    })
    const lastSync = { time: d.time, status: 'success', added: 2, removed: 1 }
    expect((await store.getSegment(env, 'seg'))?._lastSync).toEqual(lastSync)
    // The segment the call returns already carries it (the route counts its metrics from it).
    expect(updated?._lastSync).toEqual(lastSync)
    // An edit of a segment that does not exist changes nothing and records nothing.
    expect(await store.updateTargets(env, 'nope', { included: { add: ['a'] } }, { record: draft() })).toBeUndefined()
    expect(await allRecords(store, env)).toHaveLength(1)
  })

  it('records an import when it completes, with its counts; an import that stops records nothing', async () => {
    await store.apply(env, [change('seg', adds('old', 'kept'))], { allowCreate: true })
    async function* file(...keys: string[]): AsyncGenerator<string[]> {
      yield keys
    }
    const d = draft({ operation: 'import', integration: '', statusCode: 204 })
    await store.beginImport(env, 'seg', { id: 'imp-1', mode: 'replace' })
    await store.stageImport(env, 'imp-1', file('kept', 'new-1', 'new-2', 'new-1'))
    const before = (await allRecords(store, env)).length
    await store.applyImport(env, 'imp-1', 'replace', { record: d })
    const records = await allRecords(store, env)
    expect(records).toHaveLength(before + 1)
    expect(records[0]).toMatchObject({
      requestId: d.requestId,
      operation: 'import',
      // kept was in already and new-1 came twice: unchanged.
      segments: [{ segmentKey: 'seg', added: 2, removed: 1, unchanged: 2 }],
      members: 4,
      status: 'success',
      statusCode: 204
    })
    expect((await store.getSegment(env, 'seg'))?._lastSync).toEqual({
      time: d.time,
      status: 'success',
      added: 2,
      removed: 1
    })
    // Deleted before it was applied: stopped, nothing applied, nothing recorded.
    await store.beginImport(env, 'seg', { id: 'imp-2', mode: 'merge' })
    await store.stageImport(env, 'imp-2', file('late'))
    await store.deleteSegment(env, 'seg')
    await expect(store.applyImport(env, 'imp-2', 'merge', { record: draft() })).rejects.toThrow()
    expect(await allRecords(store, env)).toHaveLength(before + 1)
  })

  it('filters by segment, integration and status, newest first, with a cursor', async () => {
    for (let i = 0; i < 7; i++) {
      const integration = i % 2 === 0 ? 'segment-audiences' : 'hightouch'
      await store.apply(env, [change(`seg-${i % 3}`, adds(`k${i}`))], {
        allowCreate: true,
        record: draft({ integration })
      })
    }
    await store.recordSync(env, errorRecord(env, ['seg-0']))
    const all = await allRecords(store, env)
    expect(all).toHaveLength(8)
    expect(all.map((r) => r.time)).toEqual([...all.map((r) => r.time)].sort((a, b) => b - a))

    const pages: SyncRecord[] = []
    let after: string | undefined
    do {
      const page = await store.listSyncHistory(env, { limit: 3, after })
      expect(page.items.length).toBeLessThanOrEqual(3)
      pages.push(...page.items)
      after = page.next ?? undefined
    } while (after !== undefined)
    expect(pages).toEqual(all)

    const seg0 = await store.listSyncHistory(env, { segmentKey: 'seg-0', limit: 10 })
    expect(seg0.items.map((r) => r.segments[0].segmentKey)).toEqual(['seg-0', 'seg-0', 'seg-0', 'seg-0'])
    const errors = await store.listSyncHistory(env, { status: 'error', limit: 10 })
    expect(errors.items.map((r) => r.statusCode)).toEqual([409])
    const hightouch = await store.listSyncHistory(env, {
      integration: 'hightouch',
      status: 'success',
      limit: 2
    })
    expect(hightouch.items).toHaveLength(2)
    expect(hightouch.items.every((r) => r.integration === 'hightouch')).toBe(true)
    const rest = await store.listSyncHistory(env, {
      integration: 'hightouch',
      status: 'success',
      limit: 2,
      after: hightouch.next ?? ''
    })
    expect(rest).toEqual({ items: [expect.objectContaining({ integration: 'hightouch' })], next: null })
    expect(await store.listSyncHistory(freshEnv(), { limit: 10 })).toEqual({ items: [], next: null })
  })

  it('prunes each environment to its retention in the background', async () => {
    await store.close()
    store = await OPENERS[kind](5)
    const other = freshEnv()
    for (let i = 0; i < 12; i++) {
      await store.apply(env, [change('seg', adds(`k${i}`))], {
        allowCreate: true,
        record: draft({ requestId: `r${i}` })
      })
    }
    await store.apply(other, [change('seg', adds('k'))], { allowCreate: true, record: draft() })
    await store.pruneSyncHistory()
    expect((await allRecords(store, env)).map((r) => r.requestId)).toEqual(['r11', 'r10', 'r9', 'r8', 'r7'])
    expect(await allRecords(store, other)).toHaveLength(1)
    // And without being asked, within the prune interval.
    for (let i = 12; i < 15; i++) {
      await store.apply(env, [change('seg', adds(`k${i}`))], {
        allowCreate: true,
        record: draft({ requestId: `r${i}` })
      })
    }
    const deadline = Date.now() + 5_000
    while ((await allRecords(store, env)).length > 5 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))
    expect((await allRecords(store, env)).map((r) => r.requestId)).toEqual([
      'r14',
      'r13',
      'r12',
      'r11',
      'r10'
    ])
  })

  it('refuses a malformed cursor', async () => {
    await expect(store.listSyncHistory(env, { limit: 1, after: 'abc' })).rejects.toMatchObject({
      statusCode: 400
    })
  })
})

describe('SQLite history migration', () => {
  it('adds the history to a database file from before it, keeping its segments', async () => {
    const path = join(tempDir(), 'segments.db')
    // A file as it was before the history's schema step: every step before it, none after.
    const first = new SqliteSegmentStore(path)
    const env = freshEnv()
    await first.apply(env, [change('seg', adds('a', 'b'))], { allowCreate: true })
    await first.close()
    const db = new Database(path)
    db.exec('DROP TABLE sync_history')
    for (const column of ['last_sync_time', 'last_sync_status', 'last_sync_added', 'last_sync_removed']) {
      db.exec(`ALTER TABLE segments DROP COLUMN ${column}`)
    }
    db.pragma(`user_version = ${MIGRATIONS.findIndex((step) => step.includes('CREATE TABLE sync_history'))}`)
    db.close()

    const store = new SqliteSegmentStore(path)
    try {
      expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 2 })
      await store.apply(env, [change('seg', adds('b', 'c'))], { allowCreate: true, record: draft() })
      expect((await store.listSyncHistory(env, { limit: 5 })).items[0].segments).toEqual([
        { segmentKey: 'seg', added: 1, removed: 0, unchanged: 1 }
      ])
    } finally {
      await store.close()
    }
  })
})

describe('Redis history shared by two receivers', () => {
  it('numbers and lists the records of both receivers as one history', async () => {
    const one = await openRedisStore({ url: server.url })
    const two = await openRedisStore({ url: server.url })
    const env = freshEnv()
    try {
      const writes: Promise<unknown>[] = []
      for (let i = 0; i < 20; i++) {
        const store = i % 2 === 0 ? one : two
        writes.push(
          store.apply(env, [change('seg', adds(`k${i}`))], {
            allowCreate: true,
            record: draft({ requestId: `r${i}` })
          })
        )
      }
      await Promise.all(writes)
      const fromOne = await allRecords(one, env)
      const fromTwo = await allRecords(two, env)
      expect(fromOne).toEqual(fromTwo)
      expect(new Set(fromOne.map((r) => r.requestId)).size).toBe(20)
      expect(fromOne.reduce((sum, r) => sum + r.segments[0].added, 0)).toBe(20)
      const page = await one.listSyncHistory(env, { limit: 7 })
      const next = await two.listSyncHistory(env, { limit: 20, after: page.next ?? '' })
      expect([...page.items, ...next.items]).toEqual(fromOne)
    } finally {
      await one.close()
      await two.close()
    }
  })
})
