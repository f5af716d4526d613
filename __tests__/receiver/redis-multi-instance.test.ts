/**
 * Scale-out (SPEC §C2): two real `serve` processes share one real redis-server, as two receivers
 * behind a load balancer would. Writes go through both at once; afterwards both answer every read
 * (segments, members, contexts) identically, and what they answer is what a model of the writes says.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { startServe, type ServeProcess } from '../helpers/serve-process'
import { PROD_ID, STAGING_ID, TOKENS, tempDir, testConfig } from './app-helpers'

jest.setTimeout(180_000)

const INTEGRATION = 'segment-audiences'
const dir = tempDir('receiver-multi-')
let redis: RedisServer
let receivers: ServeProcess[] = []

beforeAll(async () => {
  redis = await startRedisServer()
  const config = testConfig()
  const projects = config.projects as { environments: { redisPrefix?: string }[] }[]
  projects[0].environments[0].redisPrefix = 'acme-prod'
  projects[0].environments[1].redisPrefix = 'acme-staging'
  projects[1].environments[0].redisPrefix = 'other-test'
  const configFile = join(dir, 'receiver.json')
  writeFileSync(configFile, JSON.stringify(config))
  // Two machines: the same --store and --config, each its own data directory.
  const started = await Promise.allSettled(
    ['a', 'b'].map((name) =>
      startServe(['--data', join(dir, name), '--store', redis.url, '--config', configFile])
    )
  )
  receivers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  for (const s of started) if (s.status === 'rejected') throw s.reason
})

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()))
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

interface Member {
  userId: string
  cohortId: string
  value: boolean
}

const cohortName = (cohortId: string): string => `Cohort ${cohortId}`
const segmentKey = (cohortId: string): string => `${INTEGRATION}-${cohortId}`

async function post(receiver: ServeProcess, environmentId: string, batch: Member[]): Promise<string> {
  const response = await fetch(`${receiver.url}/api/v2/segment-targets/${INTEGRATION}`, {
    method: 'POST',
    headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
    body: JSON.stringify({
      environmentId,
      contextKind: 'user',
      batch: batch.map((m) => ({ ...m, cohortName: cohortName(m.cohortId) }))
    })
  })
  return `${response.status} ${await response.text()}`.trim()
}

async function read<T>(receiver: ServeProcess, path: string): Promise<T> {
  const response = await fetch(`${receiver.url}${path}`, { headers: { authorization: TOKENS.reader } })
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

interface SegmentJson {
  key: string
  name: string
  unbounded: boolean
  unboundedContextKind: string
  generation: number
  creationDate: number
  lastModifiedDate: number
  _external: string
  includedCount: number
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]()
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  return results
}

/**
 * Everything one receiver says about an environment: the segment list (paged by 5), each segment,
 * its members (paged by 7 with the cursor), and `contexts/:key` for every key in `probe`.
 */
async function stateOf(
  receiver: ServeProcess,
  project: string,
  env: string,
  probe: Map<string, string[]>
): Promise<unknown> {
  const base = `/api/v2/segments/${project}/${env}`
  const list: SegmentJson[] = []
  for (let offset = 0; ; offset += 5) {
    const page = await read<{ items: SegmentJson[]; totalCount: number }>(
      receiver,
      `${base}?limit=5&offset=${offset}`
    )
    list.push(...page.items)
    if (offset + 5 >= page.totalCount) break
  }
  const segments: Record<string, unknown> = {}
  for (const listed of list) {
    const segment = await read<SegmentJson>(receiver, `${base}/${listed.key}`)
    const members: string[] = []
    let after: string | null = null
    do {
      const query: string = after === null ? '' : `&after=${encodeURIComponent(after)}`
      const page: { items: string[]; next: string | null } = await read(
        receiver,
        `${base}/${listed.key}/members?limit=7${query}`
      )
      members.push(...page.items)
      after = page.next
    } while (after !== null)
    const keys = probe.get(listed.key) ?? []
    const answers = await pool(
      8,
      keys.map(
        (contextKey) => () =>
          read<{ contextKey: string; included: boolean }>(
            receiver,
            `${base}/${listed.key}/contexts/${encodeURIComponent(contextKey)}`
          )
      )
    )
    const contexts = Object.fromEntries(answers.map((a) => [a.contextKey, a.included]))
    segments[listed.key] = { listed, segment, members, contexts }
  }
  return { keys: list.map((s) => s.key), segments }
}

/** A small seeded generator (mulberry32), so a failure replays identically. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

it('concurrent writes through both receivers: both read the same state, and it is the model', async () => {
  const CLIENTS = 8
  const REQUESTS = 40
  const SHARED = ['shared-0', 'shared-1', 'shared-2']
  // segment key → context key → included, applied per client in the order its requests were acknowledged.
  const model = new Map<string, Map<string, boolean>>()
  const record = (batch: Member[]): void => {
    for (const m of batch) {
      const key = segmentKey(m.cohortId)
      if (!model.has(key)) model.set(key, new Map())
      model.get(key)!.set(m.userId, m.value)
    }
  }
  const failures: string[] = []
  let phase1Done = 0
  let releasePhase2!: () => void
  const phase2 = new Promise<void>((resolve) => (releasePhase2 = resolve))

  const client = async (c: number): Promise<void> => {
    const rand = random(1000 + c)
    const own = `own-${c}`
    for (let n = 0; n < REQUESTS; n++) {
      if (n === REQUESTS / 2) {
        // Everyone finishes the first half before anyone starts the second, so the common keys
        // every client adds in the first half are all in before every client removes some of them.
        if (++phase1Done === CLIENTS) releasePhase2()
        await phase2
      }
      const shared = SHARED[Math.floor(rand() * SHARED.length)]
      const batch: Member[] = []
      // Disjoint: this client's own cohort. Overlapping: a shared cohort every client writes, with
      // this client's own keys in it, so the outcome does not depend on how requests interleave.
      for (let i = 0; i < 6; i++)
        batch.push({ userId: `c${c}-u${Math.floor(rand() * 12)}`, cohortId: own, value: rand() < 0.65 })
      for (let i = 0; i < 6; i++)
        batch.push({ userId: `c${c}-u${Math.floor(rand() * 12)}`, cohortId: shared, value: rand() < 0.65 })
      // The same keys from every client: added by all in the first half, partly removed by all in the second.
      if (n < REQUESTS / 2)
        batch.push(
          { userId: 'common-0', cohortId: shared, value: true },
          { userId: 'common-1', cohortId: shared, value: true }
        )
      else batch.push({ userId: 'common-0', cohortId: shared, value: false })
      const status = await post(receivers[(c + n) % 2], PROD_ID, batch)
      if (status === '204') record(batch)
      else failures.push(`client ${c} request ${n}: ${status}`)
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))
  expect(failures).toEqual([])

  // Keys written by several clients got one value per half, and the halves never overlapped, so the
  // order acknowledgements arrived in is a valid order for the model. Probe a never-synced key too.
  const probe = new Map([...model].map(([key, members]) => [key, [...members.keys(), 'never-synced']]))
  const [a, b] = await Promise.all(receivers.map((r) => stateOf(r, 'acme', 'production', probe)))
  expect(b).toEqual(a)

  const state = a as {
    keys: string[]
    segments: Record<
      string,
      { listed: SegmentJson; segment: SegmentJson; members: string[]; contexts: Record<string, boolean> }
    >
  }
  expect(state.keys).toEqual([...model.keys()].sort())
  for (const [key, members] of model) {
    const included = [...members]
      .filter(([, value]) => value)
      .map(([contextKey]) => contextKey)
      .sort()
    const { listed, segment, members: read, contexts } = state.segments[key]
    expect(segment).toEqual(listed)
    expect(segment).toMatchObject({
      key,
      name: cohortName(key.slice(INTEGRATION.length + 1)),
      unbounded: true,
      unboundedContextKind: 'user',
      generation: 1,
      _external: INTEGRATION,
      includedCount: included.length
    })
    expect({ key, members: read }).toEqual({ key, members: included })
    expect({ key, contexts }).toEqual({
      key,
      contexts: { ...Object.fromEntries(members), 'never-synced': false }
    })
  }
  // The overlap really happened: every client's keys ended up in shared segments.
  const sharedMembers = SHARED.flatMap((cohort) => state.segments[segmentKey(cohort)]?.members ?? [])
  expect(new Set(sharedMembers.filter((m) => /^c\d+-/.test(m)).map((m) => m.split('-')[0])).size).toBe(
    CLIENTS
  )
  expect(sharedMembers).toContain('common-1')
})

it('two receivers creating the same new segment at the same moment make one segment, generation 1; re-created at once after a delete, generation 2', async () => {
  const ROUNDS = 10
  const cohorts = Array.from({ length: ROUNDS }, (_, r) => `race-${r}`)
  const membersFor = (side: string, cohortId: string): Member[] => [
    ...Array.from({ length: 20 }, (_, i) => ({ userId: `${side}-${cohortId}-${i}`, cohortId, value: true })),
    ...Array.from({ length: 5 }, (_, i) => ({ userId: `both-${cohortId}-${i}`, cohortId, value: true }))
  ]
  const race = async (side: (r: number) => string): Promise<string[]> =>
    Promise.all(
      cohorts.flatMap((cohortId, r) =>
        receivers.map((receiver, i) => post(receiver, STAGING_ID, membersFor(`${side(r)}${i}`, cohortId)))
      )
    )

  expect(await race(() => 'first')).toEqual(Array(ROUNDS * 2).fill('204'))
  const base = '/api/v2/segments/acme/staging'
  const admin = async <T>(receiver: ServeProcess, path: string): Promise<T> => {
    const response = await fetch(`${receiver.url}${path}`, { headers: { authorization: TOKENS.writer } })
    expect(response.status).toBe(200)
    return (await response.json()) as T
  }
  const expectRound = async (generation: number, side: string): Promise<void> => {
    for (const receiver of receivers) {
      const list = await admin<{ items: SegmentJson[]; totalCount: number }>(receiver, `${base}?limit=50`)
      expect(list.totalCount).toBe(ROUNDS)
      expect(list.items.map((s) => s.key)).toEqual(cohorts.map(segmentKey).sort())
      for (const cohortId of cohorts) {
        const segment = await admin<SegmentJson>(receiver, `${base}/${segmentKey(cohortId)}`)
        expect(segment).toMatchObject({ generation, includedCount: 45 })
        const members = await admin<{ items: string[]; totalCount: number }>(
          receiver,
          `${base}/${segmentKey(cohortId)}/members?limit=100`
        )
        const expected = [...membersFor(`${side}0`, cohortId), ...membersFor(`${side}1`, cohortId)].map(
          (m) => m.userId
        )
        expect(members.items).toEqual([...new Set(expected)].sort())
      }
    }
  }
  await expectRound(1, 'first')
  const creation = await Promise.all(
    receivers.map((r) => admin<SegmentJson>(r, `${base}/${segmentKey('race-0')}`))
  )
  expect(creation[1].creationDate).toBe(creation[0].creationDate)

  // Delete through one receiver, re-create through both at once: one segment, generation 2, only new members.
  for (const cohortId of cohorts) {
    const response = await fetch(`${receivers[0].url}${base}/${segmentKey(cohortId)}`, {
      method: 'DELETE',
      headers: { authorization: TOKENS.writer }
    })
    expect(response.status).toBe(204)
  }
  expect(await race(() => 'second')).toEqual(Array(ROUNDS * 2).fill('204'))
  await expectRound(2, 'second')
  for (const receiver of receivers) {
    const old = await admin<{ included: boolean }>(
      receiver,
      `${base}/${segmentKey('race-3')}/contexts/first0-race-3-0`
    )
    expect(old.included).toBe(false)
  }
})

it('both receivers stop cleanly on SIGTERM, having logged no errors', async () => {
  for (const receiver of receivers) {
    expect(await receiver.stop()).toEqual({ code: 0, signal: null })
    expect(receiver.stdout()).toContain('SIGTERM: shutting down')
    expect(receiver.stderr()).toBe('')
  }
})
