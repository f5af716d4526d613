import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { adds, change, collect, removes, runStoreContract } from './contract'
import { BadRequestError, ConflictError, ForbiddenError, StoreUnavailableError } from '../../src/errors'
import { openRedisStore } from '../../src/store/redis'
import type { EnvironmentRef, MembershipOp, SegmentStore } from '../../src/store/types'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'

let server: RedisServer

beforeAll(async () => {
  server = await startRedisServer()
})

afterAll(async () => {
  await server?.stop()
})

runStoreContract('redis', async () => {
  const store = await openRedisStore({ url: server.url })
  return { store, cleanup: () => store.close() }
})

/** Computed independently of the store: what LaunchDarkly's SDK hashes a context key to. */
function sdkHash(contextKey: string): string {
  return createHash('sha256').update(contextKey).digest('base64')
}

function uniqueEnv(redisPrefix?: string): EnvironmentRef {
  return { projectKey: `p-${randomUUID().slice(0, 8)}`, environmentKey: 'production', redisPrefix }
}

/** Every key of the database with its full contents, to prove a failed call wrote nothing. */
async function snapshot(redis: Redis): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const key of (await redis.keys('*')).sort()) {
    const type = await redis.type(key)
    if (type === 'string') out[key] = await redis.get(key)
    else if (type === 'set') out[key] = (await redis.smembers(key)).sort()
    else if (type === 'zset') out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES')
    else if (type === 'hash') out[key] = await redis.hgetall(key)
    else out[key] = type
  }
  return out
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('Redis store specifics', () => {
  let redis: Redis
  let store: SegmentStore

  beforeAll(async () => {
    redis = new Redis(server.url)
    store = await openRedisStore({ url: server.url })
  })

  afterAll(async () => {
    await store.close()
    await redis.quit()
  })

  beforeEach(async () => {
    // These tests inspect the whole key space.
    await redis.flushall()
  })

  describe("LaunchDarkly's big-segment layout", () => {
    it('writes include sets of <segmentKey>.g<generation> under base64(sha256(context key))', async () => {
      const env = uniqueEnv('acme')
      const before = Date.now()
      await store.apply(env, [change('segment-audiences-aud_1', adds('user-1', 'ünïcödé', 'a:b'))], {
        allowCreate: true,
        now: 1_700_000_000_000
      })
      const after = Date.now()

      for (const key of ['user-1', 'ünïcödé', 'a:b']) {
        expect(await redis.smembers(`acme:big_segment_include:${sdkHash(key)}`)).toEqual([
          'segment-audiences-aud_1.g1'
        ])
      }
      expect(sdkHash('user-1')).toMatch(/^[A-Za-z0-9+/]{43}=$/)

      // The SDK's freshness mark is the real time of the write (not the change's `now`), as a string integer.
      const synchronizedOn = await redis.get('acme:big_segments_synchronized_on')
      expect(synchronizedOn).toMatch(/^\d+$/)
      expect(Number(synchronizedOn)).toBeGreaterThanOrEqual(before)
      expect(Number(synchronizedOn)).toBeLessThanOrEqual(after)

      // Synced segments never need the SDK's exclude sets, and nothing lands outside the prefix.
      expect(await redis.keys('acme:big_segment_exclude:*')).toEqual([])
      expect((await redis.keys('*')).every((key) => key.startsWith('acme:'))).toBe(true)
    })

    it('keeps metadata and member listings under <prefix>:synced_segments:<project>/<environment>:', async () => {
      const env: EnvironmentRef = { projectKey: 'web', environmentKey: 'prod', redisPrefix: 'acme' }
      await store.apply(env, [change('seg', adds('b', 'a'), { externalLink: 'https://x.test/c' })], {
        allowCreate: true,
        now: 1_700_000_000_000
      })
      const ns = 'acme:synced_segments:web/prod:'
      expect(await redis.zrange(`${ns}segments`, 0, -1)).toEqual(['seg'])
      expect(await redis.hgetall(`${ns}segment:seg`)).toEqual({
        name: 'Cohort seg',
        kind: 'user',
        generation: '1',
        creationDate: '1700000000000',
        lastModifiedDate: '1700000000000',
        external: 'segment-audiences',
        externalLink: 'https://x.test/c',
        version: '1'
      })
      expect(await redis.zrange(`${ns}members:seg.g1`, 0, -1, 'WITHSCORES')).toEqual(['a', '0', 'b', '0'])
    })

    it('writes excluded keys where the SDKs read them, <prefix>:big_segment_exclude:<hash>, and sweeps them after a delete', async () => {
      const env: EnvironmentRef = { projectKey: 'web', environmentKey: 'excl', redisPrefix: 'acme-excl' }
      await store.apply(env, [change('seg', adds('a'), { cohortId: 'c1' })], {
        allowCreate: true,
        now: 1_700_000_000_000
      })
      await store.updateTargets(env, 'seg', { excluded: { add: ['x', 'a'] } })
      const ns = 'acme-excl:synced_segments:web/excl:'
      expect(await redis.smembers(`acme-excl:big_segment_exclude:${sdkHash('x')}`)).toEqual(['seg.g1'])
      expect(await redis.smembers(`acme-excl:big_segment_exclude:${sdkHash('a')}`)).toEqual(['seg.g1'])
      expect(await redis.smembers(`acme-excl:big_segment_include:${sdkHash('a')}`)).toEqual(['seg.g1'])
      expect(await redis.zrange(`${ns}excluded:seg.g1`, 0, -1)).toEqual(['a', 'x'])
      expect(await redis.hget(`${ns}segment:seg`, 'cohortId')).toBe('c1')

      await store.updateTargets(env, 'seg', { excluded: { remove: ['a'] } })
      expect(await redis.exists(`acme-excl:big_segment_exclude:${sdkHash('a')}`)).toBe(0)

      await store.deleteSegment(env, 'seg')
      await eventually(
        async () => (await redis.exists(`acme-excl:big_segment_exclude:${sdkHash('x')}`)) === 0
      )
      expect(await redis.keys(`${ns}*garbage*`)).toEqual([])
    })

    it('uses the prefix launchdarkly when the environment has none', async () => {
      await store.apply(uniqueEnv(), [change('seg', adds('u'))], { allowCreate: true })
      expect(await redis.smembers(`launchdarkly:big_segment_include:${sdkHash('u')}`)).toEqual(['seg.g1'])
      expect(await redis.get('launchdarkly:big_segments_synchronized_on')).toMatch(/^\d+$/)
    })

    it('removes the reference when a member leaves and drops emptied include sets', async () => {
      const env = uniqueEnv('acme')
      await store.apply(env, [change('one', adds('u')), change('two', adds('u'))], { allowCreate: true })
      const includeKey = `acme:big_segment_include:${sdkHash('u')}`
      expect((await redis.smembers(includeKey)).sort()).toEqual(['one.g1', 'two.g1'])

      await store.apply(env, [change('one', removes('u'))], { allowCreate: true })
      expect(await redis.smembers(includeKey)).toEqual(['two.g1'])
      await store.apply(env, [change('two', removes('u'))], { allowCreate: true })
      expect(await redis.exists(includeKey)).toBe(0)
    })

    it('re-creates a deleted segment under generation + 1 and sweeps the old references', async () => {
      const env = uniqueEnv('acme')
      await store.apply(env, [change('seg', adds('gone', 'stays'))], { allowCreate: true })
      expect(await store.deleteSegment(env, 'seg')).toBe(true)
      await store.apply(env, [change('seg', adds('stays', 'new'))], { allowCreate: true })

      expect((await redis.smembers(`acme:big_segment_include:${sdkHash('new')}`)).sort()).toEqual(['seg.g2'])
      // The g1 references stop matching at once (the SDK asks for g2) and are removed in the background.
      await eventually(async () => (await redis.exists(`acme:big_segment_include:${sdkHash('gone')}`)) === 0)
      await eventually(
        async () => (await redis.smembers(`acme:big_segment_include:${sdkHash('stays')}`)).join() === 'seg.g2'
      )
      await eventually(async () => (await redis.keys('acme:synced_segments:*garbage*')).length === 0)
      expect(await collect(store.members(env, 'seg', {}))).toEqual(['new', 'stays'])
    })
    it('sweeps the references of a deleted segment of thousands of members in pages', async () => {
      const env = uniqueEnv('acme')
      const keys = Array.from({ length: 2_500 }, (_, i) => `member-${i}`)
      await store.apply(env, [change('big', adds(...keys)), change('kept', adds('member-7'))], {
        allowCreate: true
      })
      expect(await store.deleteSegment(env, 'big')).toBe(true)
      await eventually(async () => (await redis.keys('acme:big_segment_include:*')).length === 1)
      expect(await redis.smembers(`acme:big_segment_include:${sdkHash('member-7')}`)).toEqual(['kept.g1'])
    })

    it('keeps a Redis error about foreign data under its prefix a plain error, not a 503', async () => {
      const env: EnvironmentRef = { projectKey: 'p', environmentKey: 'e', redisPrefix: 'acme' }
      await redis.set('acme:synced_segments:p/e:segment:seg', 'not a hash')
      const attempt = store.apply(env, [change('seg', adds('a'))], { allowCreate: true })
      await expect(attempt).rejects.toThrow(/WRONGTYPE/)
      await expect(attempt).rejects.not.toBeInstanceOf(StoreUnavailableError)
      expect(await redis.keys('acme:big_segment_include:*')).toEqual([])
    })
  })

  describe('environments', () => {
    it('keeps environments with the same keys but different prefixes apart', async () => {
      const a: EnvironmentRef = { projectKey: 'p', environmentKey: 'e', redisPrefix: 'tenant-a' }
      const b: EnvironmentRef = { projectKey: 'p', environmentKey: 'e', redisPrefix: 'tenant-b' }
      await store.apply(a, [change('seg', adds('u1'))], { allowCreate: true })
      await store.apply(b, [change('seg', adds('u2'), { contextKind: 'device' })], { allowCreate: true })

      expect(await store.getSegment(a, 'seg')).toMatchObject({
        unboundedContextKind: 'user',
        includedCount: 1
      })
      expect(await store.getSegment(b, 'seg')).toMatchObject({
        unboundedContextKind: 'device',
        includedCount: 1
      })
      expect(await redis.smembers(`tenant-a:big_segment_include:${sdkHash('u1')}`)).toEqual(['seg.g1'])
      expect(await redis.exists(`tenant-a:big_segment_include:${sdkHash('u2')}`)).toBe(0)
      expect(await redis.smembers(`tenant-b:big_segment_include:${sdkHash('u2')}`)).toEqual(['seg.g1'])
      expect(await store.deleteSegment(a, 'seg')).toBe(true)
      expect(await store.getSegment(b, 'seg')).toMatchObject({ includedCount: 1 })
    })

    it('keeps the metadata of environments sharing a prefix apart', async () => {
      const prod: EnvironmentRef = { projectKey: 'p', environmentKey: 'prod', redisPrefix: 'shared' }
      const test: EnvironmentRef = { projectKey: 'p', environmentKey: 'test', redisPrefix: 'shared' }
      const slashy: EnvironmentRef = { projectKey: 'p/prod', environmentKey: 'x', redisPrefix: 'shared' }
      await store.apply(prod, [change('seg', adds('u1'))], { allowCreate: true })
      await store.apply(test, [change('seg', adds('u2'), { contextKind: 'device' })], { allowCreate: true })

      expect(await collect(store.members(prod, 'seg', {}))).toEqual(['u1'])
      expect(await collect(store.members(test, 'seg', {}))).toEqual(['u2'])
      expect(await store.getSegment(test, 'seg')).toMatchObject({ unboundedContextKind: 'device' })
      expect(await store.listSegments(slashy, { limit: 50, offset: 0 })).toEqual({ items: [], totalCount: 0 })
    })
  })

  describe('atomicity', () => {
    it('writes nothing at all when the script finds a context-kind conflict', async () => {
      const env = uniqueEnv('acme')
      await store.apply(env, [change('existing', adds('a'))], { allowCreate: true, now: 1 })
      const before = await snapshot(redis)

      const attempt = store.apply(
        env,
        [change('fresh', adds('n1', 'n2')), change('existing', adds('b'), { contextKind: 'device' })],
        { allowCreate: true, now: 2 }
      )
      await expect(attempt).rejects.toBeInstanceOf(ConflictError)
      await expect(attempt).rejects.toThrow(/existing.*'user'/)
      expect(await snapshot(redis)).toEqual(before)
    })

    it('writes nothing at all when a new segment needs createSegment', async () => {
      const env = uniqueEnv('acme')
      await store.apply(env, [change('existing', adds('a'))], { allowCreate: true, now: 1 })
      const before = await snapshot(redis)

      const attempt = store.apply(env, [change('existing', adds('b')), change('fresh', adds('n1'))], {
        allowCreate: false,
        now: 2
      })
      await expect(attempt).rejects.toBeInstanceOf(ForbiddenError)
      expect(await snapshot(redis)).toEqual(before)
    })

    it('rejects one request that gives a new segment two context kinds', async () => {
      const env = uniqueEnv('acme')
      const before = await snapshot(redis)
      await expect(
        store.apply(
          env,
          [change('fresh', adds('a')), change('fresh', adds('b'), { contextKind: 'device' })],
          {
            allowCreate: true
          }
        )
      ).rejects.toBeInstanceOf(ConflictError)
      expect(await snapshot(redis)).toEqual(before)
    })

    it('applies the ops of one change in order, even when they repeat a context key', async () => {
      const env = uniqueEnv('acme')
      const ops: MembershipOp[] = [
        ...adds('x', 'y'),
        ...removes('x', 'y'),
        ...adds('x'),
        ...removes('z'),
        ...adds('z')
      ]
      const result = await store.apply(env, [change('seg', ops)], { allowCreate: true })
      expect(result.segments[0].includedCount).toBe(2)
      expect(await collect(store.members(env, 'seg', {}))).toEqual(['x', 'z'])
      expect(await redis.exists(`acme:big_segment_include:${sdkHash('y')}`)).toBe(0)
      expect(await redis.smembers(`acme:big_segment_include:${sdkHash('x')}`)).toEqual(['seg.g1'])
    })

    it('creates a segment once when two store instances race to create it', async () => {
      const other = await openRedisStore({ url: server.url })
      try {
        const env = uniqueEnv('acme')
        for (let round = 0; round < 20; round += 1) {
          const key = `race-${round}`
          const [first, second] = await Promise.all([
            store.apply(env, [change(key, adds('from-first', 'both'))], { allowCreate: true }),
            other.apply(env, [change(key, adds('from-second', 'both'))], { allowCreate: true })
          ])
          expect(first.segments[0].generation).toBe(1)
          expect(second.segments[0].generation).toBe(1)
          expect(second.segments[0].creationDate).toBe(first.segments[0].creationDate)
        }
        const list = await other.listSegments(env, { limit: 50, offset: 0 })
        expect(list.totalCount).toBe(20)
        expect(list.items.every((s) => s.generation === 1 && s.includedCount === 3)).toBe(true)
        expect(await collect(store.members(env, 'race-7', {}))).toEqual(['both', 'from-first', 'from-second'])
      } finally {
        await other.close()
      }
    })
  })
})

describe('Redis store imports', () => {
  const LEASE_MS = 300
  let redis: Redis
  let store: SegmentStore
  let other: SegmentStore
  const env = uniqueEnv('imports')
  const ns = `imports:synced_segments:${env.projectKey}/${env.environmentKey}:`

  beforeAll(async () => {
    redis = new Redis(server.url)
    store = await openRedisStore({ url: server.url, importLeaseMs: LEASE_MS })
    other = await openRedisStore({ url: server.url, importLeaseMs: LEASE_MS })
  })

  afterAll(async () => {
    await store.close()
    await other.close()
    await redis.quit()
  })

  beforeEach(async () => {
    await redis.flushall()
    await store.apply(env, [change('seg', adds('old', 'kept'))], { allowCreate: true, now: 1 })
  })

  /** Keys in batches, pausing `pauseMs` after each batch (a slow upload), then calling `during`. */
  async function* slowFile(
    batches: string[][],
    pauseMs: number,
    during: () => Promise<void> = async () => undefined
  ): AsyncGenerator<string[]> {
    for (const batch of batches) {
      yield batch
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
    await during()
  }

  const stagingFile = (id: string): string => join(tmpdir(), `synced-segments-import-${id}`)

  it('stages the file with the receiver: Redis holds only the lease and the record until it is applied', async () => {
    const before = await snapshot(redis)
    await store.beginImport(env, 'seg', { id: 'local-1', mode: 'replace' })
    let during: Record<string, unknown> = {}
    await store.stageImport(
      env,
      'local-1',
      slowFile([['kept', 'new-1'], ['new-2']], 10, async () => {
        during = await snapshot(redis)
        expect(existsSync(stagingFile('local-1'))).toBe(true)
      })
    )
    const added = Object.keys(during).filter((key) => !(key in before))
    expect(added.sort()).toEqual([`${ns}importing:seg`, `${ns}job:import:local-1`])
    for (const key of Object.keys(before)) expect(during[key]).toEqual(before[key])

    await expect(store.applyImport(env, 'local-1', 'replace')).resolves.toMatchObject({
      status: 'complete',
      keys: 3,
      added: 2,
      removed: 1
    })
    expect(await collect(store.members(env, 'seg', {}))).toEqual(['kept', 'new-1', 'new-2'])
    expect(await redis.exists(`${ns}importing:seg`)).toBe(0)
    expect(existsSync(stagingFile('local-1'))).toBe(false)
  })

  it('keeps its lease through an upload longer than the lease, so no other receiver imports meanwhile', async () => {
    await store.beginImport(env, 'seg', { id: 'long-1' })
    const staging = store.stageImport(env, 'long-1', slowFile([['a'], ['b'], ['c'], ['d']], LEASE_MS))
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS))
    await expect(other.beginImport(env, 'seg', { id: 'long-2' })).rejects.toThrow(ConflictError)
    await staging
    await expect(store.applyImport(env, 'long-1', 'merge')).resolves.toMatchObject({
      status: 'complete',
      added: 4
    })
    await expect(other.beginImport(env, 'seg', { id: 'long-3' })).resolves.toMatchObject({
      status: 'preparing'
    })
    await other.stopImport(env, 'long-3', 'done')
  })

  it('stops, changing nothing, when its lease was taken while the file uploaded', async () => {
    const before = await snapshot(redis)
    await store.beginImport(env, 'seg', { id: 'stolen-1' })
    const batches = Array.from({ length: 8 }, (_, i) => [`k-${i}`])
    const staging = store.stageImport(env, 'stolen-1', slowFile(batches, LEASE_MS / 4))
    await redis.set(`${ns}importing:seg`, 'someone-else', 'PX', 10 * LEASE_MS)
    await expect(staging).rejects.toThrow(/lost its lease/)
    await expect(store.getImport(env, 'seg', 'stolen-1')).resolves.toMatchObject({
      status: 'stopped',
      error: expect.stringMatching(/lost its lease/)
    })
    expect(existsSync(stagingFile('stolen-1'))).toBe(false)
    // The other holder's lease is left alone; the segment is as it was.
    expect(await redis.get(`${ns}importing:seg`)).toBe('someone-else')
    const after = await snapshot(redis)
    for (const key of Object.keys(before)) expect(after[key]).toEqual(before[key])
  })

  it('applies keys with any characters, commas and line breaks among them, and removes its staging file when a file fails', async () => {
    const keys = ['a,b', 'line\nbreak', 'é€😀', '"quoted"', ' spaced ']
    await store.beginImport(env, 'seg', { id: 'odd-1' })
    await store.stageImport(env, 'odd-1', slowFile([keys], 0))
    await store.applyImport(env, 'odd-1', 'replace')
    expect(await collect(store.members(env, 'seg', {}))).toEqual(
      [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    )
    for (const key of keys)
      expect(await redis.sismember(`imports:big_segment_include:${sdkHash(key)}`, 'seg.g1')).toBe(1)

    await store.beginImport(env, 'seg', { id: 'bad-1' })
    async function* failing(): AsyncGenerator<string[]> {
      yield ['x']
      throw new BadRequestError('row 2: bad key')
    }
    await expect(store.stageImport(env, 'bad-1', failing())).rejects.toThrow('row 2: bad key')
    expect(existsSync(stagingFile('bad-1'))).toBe(false)
  })
})

describe('Redis store when Redis is unreachable', () => {
  let flaky: RedisServer
  let store: SegmentStore
  const env = uniqueEnv('outage')

  beforeAll(async () => {
    flaky = await startRedisServer()
    store = await openRedisStore({ url: flaky.url, commandTimeoutMs: 500 })
  })

  afterAll(async () => {
    await store.close()
    await flaky.stop()
  })

  it('rejects quickly with a 503 while Redis is down and works again once it is back', async () => {
    await store.apply(env, [change('seg', adds('before'))], { allowCreate: true })
    await flaky.kill()

    const started = Date.now()
    const attempt = store.apply(env, [change('seg', adds('during'))], { allowCreate: true })
    await expect(attempt).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(attempt).rejects.toMatchObject({ statusCode: 503 })
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(store.getSegment(env, 'seg')).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(collect(store.members(env, 'seg', {}))).rejects.toBeInstanceOf(StoreUnavailableError)
    expect(Date.now() - started).toBeLessThan(3_000)

    // Same store instance, no restart: the client reconnects on its own.
    await flaky.start()
    await eventually(() =>
      store.ping().then(
        () => true,
        () => false
      )
    )
    const result = await store.apply(env, [change('seg', adds('after'))], { allowCreate: true })
    // The server came back empty (no persistence), and the write that failed was never replayed.
    expect(result.segments[0]).toMatchObject({ generation: 1, includedCount: 1 })
    expect(await store.isIncluded(env, 'seg', 'during')).toBe(false)
    expect(await store.isIncluded(env, 'seg', 'after')).toBe(true)
  })

  it('rejects with a 503 when Redis hangs, within the command timeout', async () => {
    await store.ping()
    flaky.pause()
    try {
      const started = Date.now()
      await expect(
        store.apply(env, [change('seg', adds('hung'))], { allowCreate: true })
      ).rejects.toBeInstanceOf(StoreUnavailableError)
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError)
      expect(Date.now() - started).toBeLessThan(3_000)
    } finally {
      flaky.resume()
    }
    await eventually(() =>
      store.ping().then(
        () => true,
        () => false
      )
    )
    // The script had reached the frozen server, so it still ran once Redis woke up — whole, as
    // always: a 503 after a timeout means "unknown", and retrying the request is safe.
    expect(await store.isIncluded(env, 'seg', 'hung')).toBe(true)
    expect(await store.getSegment(env, 'seg')).toMatchObject({ generation: 1 })
  })

  it('fails to open with a 503 when nothing listens', async () => {
    await flaky.kill()
    try {
      const started = Date.now()
      await expect(openRedisStore({ url: flaky.url, connectTimeoutMs: 1_000 })).rejects.toBeInstanceOf(
        StoreUnavailableError
      )
      expect(Date.now() - started).toBeLessThan(3_000)
    } finally {
      await flaky.start()
    }
  })
})
