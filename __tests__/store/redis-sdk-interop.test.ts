/**
 * LaunchDarkly's own server-side SDK, with its Redis big-segment store, evaluates flags against
 * what the Redis store wrote. Flag data comes from the SDK's file data source; nothing leaves the
 * machine (nock refuses any HTTP request that is not to loopback).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type * as ld from '@launchdarkly/node-server-sdk'
import nock from 'nock'
import { openRedisStore } from '../../src/store/redis'
import type { EnvironmentRef, SegmentChange, SegmentStore } from '../../src/store/types'
import { evaluate, sdkClient as ldSdkClient, writeFlagData } from '../helpers/ld-sdk'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'

const SEGMENT = 'segment-audiences-aud_beta'

let server: RedisServer
let store: SegmentStore
let dir: string

const env: EnvironmentRef = {
  projectKey: 'default',
  environmentKey: 'production',
  redisPrefix: 'sdk-interop'
}

beforeAll(async () => {
  nock.disableNetConnect()
  nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/)
  server = await startRedisServer()
  store = await openRedisStore({ url: server.url })
  dir = mkdtempSync(join(tmpdir(), 'synced-segments-sdk-'))
})

afterAll(async () => {
  await store?.close()
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
  nock.enableNetConnect()
})

function sync(ops: Array<[string, boolean]>): SegmentChange[] {
  return [
    {
      segmentKey: SEGMENT,
      name: 'Aud beta',
      contextKind: 'user',
      integrationKey: 'segment-audiences',
      ops: ops.map(([contextKey, included]) => ({ contextKey, included }))
    }
  ]
}

/** An SDK client reading flags from `flagFile` and big segments from the test's Redis. */
function sdkClient(
  flagFile: string,
  errors: string[],
  bigSegments: Omit<ld.LDBigSegmentsOptions, 'store'> = {}
): Promise<ld.LDClient> {
  return ldSdkClient({ flagFile, errors, redisPort: server.port, prefix: env.redisPrefix, bigSegments })
}

/** Polls (the SDK polls the store's status in the background) until a flag evaluation reports `status`. */
async function untilStatus(
  client: ld.LDClient,
  key: string,
  status: string,
  timeoutMs = 10_000
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const detail = await evaluate(client, key)
    if (detail.reason.bigSegmentsStatus === status) return
    if (Date.now() > deadline)
      throw new Error(`bigSegmentsStatus still ${detail.reason.bigSegmentsStatus}, not ${status}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function expire(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 50))
}

it('evaluates flags against synced segments, across removal, delete and re-creation', async () => {
  const errors: string[] = []
  const first = await store.apply(
    env,
    sync([
      ['alice', true],
      ['bob', true],
      ['carol', true]
    ]),
    {
      allowCreate: true
    }
  )
  expect(first.segments[0].generation).toBe(1)

  const client = await sdkClient(writeFlagData(dir, SEGMENT, first.segments[0].generation), errors)
  try {
    const alice = await evaluate(client, 'alice')
    expect(alice.value).toBe(true)
    expect(alice.reason).toMatchObject({
      kind: 'RULE_MATCH',
      ruleId: 'in-synced-segment',
      bigSegmentsStatus: 'HEALTHY'
    })
    expect(await evaluate(client, 'bob')).toMatchObject({
      value: true,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
    expect(await evaluate(client, 'nobody')).toMatchObject({
      value: false,
      reason: { kind: 'FALLTHROUGH', bigSegmentsStatus: 'HEALTHY' }
    })

    await store.apply(env, sync([['bob', false]]), { allowCreate: true })
    await expire()
    expect(await evaluate(client, 'bob')).toMatchObject({
      value: false,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
    expect((await evaluate(client, 'alice')).value).toBe(true)
  } finally {
    client.close()
  }

  // DELETE, then a new sync re-creates the segment; LaunchDarkly would now serve generation 2.
  expect(await store.deleteSegment(env, SEGMENT)).toBe(true)
  const second = await store.apply(
    env,
    sync([
      ['dave', true],
      ['carol', true]
    ]),
    { allowCreate: true }
  )
  expect(second.segments[0].generation).toBe(2)

  const renewed = await sdkClient(writeFlagData(dir, SEGMENT, second.segments[0].generation), errors)
  try {
    expect(await evaluate(renewed, 'alice')).toMatchObject({
      value: false,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
    expect(await evaluate(renewed, 'dave')).toMatchObject({
      value: true,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
    expect((await evaluate(renewed, 'carol')).value).toBe(true)
  } finally {
    renewed.close()
  }
  expect(errors).toEqual([])
})

it('reads big_segments_synchronized_on: STALE after a quiet spell, HEALTHY again after a write', async () => {
  const errors: string[] = []
  const { segments } = await store.apply(env, sync([['erin', true]]), { allowCreate: true })
  const client = await sdkClient(writeFlagData(dir, SEGMENT, segments[0].generation), errors, {
    staleAfter: 2,
    statusPollInterval: 0.05
  })
  try {
    expect(await evaluate(client, 'erin')).toMatchObject({
      value: true,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
    await untilStatus(client, 'erin', 'STALE')

    // Any write refreshes the mark, even one that only touches another context.
    await store.apply(env, sync([['frank', true]]), { allowCreate: true })
    await untilStatus(client, 'erin', 'HEALTHY')
    expect((await evaluate(client, 'erin')).value).toBe(true)
  } finally {
    client.close()
  }
  expect(errors).toEqual([])
})

it('evaluates excluded contexts as LaunchDarkly does: exclusion bypasses the segment rules, inclusion wins over it', async () => {
  const errors: string[] = []
  const excludedEnv: EnvironmentRef = {
    ...env,
    environmentKey: 'exclusions',
    redisPrefix: 'sdk-interop-exclusions'
  }
  const { segments } = await store.apply(excludedEnv, sync([['alice', true]]), { allowCreate: true })
  await store.updateTargets(excludedEnv, SEGMENT, { excluded: { add: ['staff-bob', 'alice'] } })
  const staffRule = {
    id: 'staff',
    clauses: [{ attribute: 'key', op: 'startsWith', values: ['staff-'], negate: false }]
  }
  const client = await ldSdkClient({
    flagFile: writeFlagData(dir, SEGMENT, segments[0].generation, [staffRule]),
    errors,
    redisPort: server.port,
    prefix: excludedEnv.redisPrefix
  })
  try {
    // Matched by the segment's rule alone.
    expect(await evaluate(client, 'staff-carol')).toMatchObject({
      value: true,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
    // Excluded: the rule would match, but an excluded target never is a member through rules.
    expect(await evaluate(client, 'staff-bob')).toMatchObject({
      value: false,
      reason: { kind: 'FALLTHROUGH' }
    })
    // Both included and excluded: the SDK lets inclusion win.
    expect(await evaluate(client, 'alice')).toMatchObject({
      value: true,
      reason: { ruleId: 'in-synced-segment' }
    })

    await store.updateTargets(excludedEnv, SEGMENT, { excluded: { remove: ['staff-bob'] } })
    await expire()
    expect((await evaluate(client, 'staff-bob')).value).toBe(true)
  } finally {
    client.close()
  }
  expect(errors).toEqual([])
})
