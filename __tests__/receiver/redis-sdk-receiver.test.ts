/**
 * The whole path of issue 5: syncs arrive over HTTP at a receiver on Redis, the segment's generation
 * is read from the receiver's API, and LaunchDarkly's own server-side SDK (file data source for the
 * flag, RedisBigSegmentStore for membership) evaluates against what the receiver wrote. Nothing
 * leaves the machine: nock refuses any connection that is not to loopback.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type * as ld from '@launchdarkly/node-server-sdk'
import nock from 'nock'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { evaluate, sdkClient as ldSdkClient, writeFlagData } from '../helpers/ld-sdk'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { audienceBody, get, sync, tempDir, TOKENS } from './app-helpers'

jest.setTimeout(60_000)

const PREFIX = 'sdk-receiver'
const SEGMENT = 'segment-audiences-aud_beta'
const SEGMENT_URL = `/api/v2/segments/shop/production/${SEGMENT}`
const CLIENT_ID = 'client-shop-prod-0001'

const dir = tempDir('receiver-sdk-')
let redis: RedisServer
let receiver: Receiver

beforeAll(async () => {
  nock.disableNetConnect()
  nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/)
  redis = await startRedisServer()
  receiver = await createReceiver({
    dataDir: join(dir, 'data'),
    store: redis.url,
    config: {
      projects: [
        { key: 'shop', environments: [{ key: 'production', clientSideId: CLIENT_ID, redisPrefix: PREFIX }] }
      ],
      tokens: [{ name: 'writer', token: TOKENS.writer, actions: '*', environments: '*' }]
    }
  })
})

afterAll(async () => {
  await receiver?.close()
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
  nock.enableNetConnect()
})

/** One sync over HTTP, as the Segment destination sends it, for the cohort behind SEGMENT. */
async function syncOverHttp(members: Array<[string, boolean]>): Promise<void> {
  const body = audienceBody(
    members.map(([userId, value]) => ({ userId, value, cohortId: 'aud_beta' })),
    { environmentId: CLIENT_ID, cohortName: 'Beta testers' }
  )
  const response = await sync(receiver.app, 'segment-audiences', body)
  expect(response.statusCode).toBe(204)
}

/** The generation LaunchDarkly would serve in the segment's flag data, read from the receiver's API. */
async function generationFromApi(): Promise<number> {
  const response = await get(receiver.app, SEGMENT_URL)
  expect(response.statusCode).toBe(200)
  const segment = response.json<{ unbounded: boolean; unboundedContextKind: string; generation: number }>()
  expect(segment).toMatchObject({ unbounded: true, unboundedContextKind: 'user' })
  return segment.generation
}

function sdkClient(flagFile: string, errors: string[]): Promise<ld.LDClient> {
  return ldSdkClient({ flagFile, errors, redisPort: redis.port, prefix: PREFIX })
}

const cacheExpiry = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50))

it('an SDK on the same Redis evaluates flags against what was synced through the receiver, across removal, DELETE and re-creation', async () => {
  const errors: string[] = []
  await syncOverHttp([
    ['alice', true],
    ['bob', true],
    ['carol', true]
  ])
  const first = await generationFromApi()
  expect(first).toBe(1)

  const client = await sdkClient(writeFlagData(dir, SEGMENT, first), errors)
  try {
    expect(await evaluate(client, 'alice')).toMatchObject({
      value: true,
      reason: { kind: 'RULE_MATCH', ruleId: 'in-synced-segment', bigSegmentsStatus: 'HEALTHY' }
    })
    expect(await evaluate(client, 'nobody')).toMatchObject({
      value: false,
      reason: { kind: 'FALLTHROUGH', bigSegmentsStatus: 'HEALTHY' }
    })

    await syncOverHttp([['bob', false]])
    await cacheExpiry()
    expect(await evaluate(client, 'bob')).toMatchObject({
      value: false,
      reason: { kind: 'FALLTHROUGH', bigSegmentsStatus: 'HEALTHY' }
    })
    expect(await evaluate(client, 'carol')).toMatchObject({
      value: true,
      reason: { bigSegmentsStatus: 'HEALTHY' }
    })
  } finally {
    client.close()
  }

  const deleted = await receiver.app.inject({
    method: 'DELETE',
    url: SEGMENT_URL,
    headers: { authorization: TOKENS.writer }
  })
  expect(deleted.statusCode).toBe(204)
  expect((await get(receiver.app, SEGMENT_URL)).statusCode).toBe(404)
  await syncOverHttp([
    ['dave', true],
    ['carol', true]
  ])
  const second = await generationFromApi()
  expect(second).toBe(2)

  // LaunchDarkly now serves generation 2: the members of generation 1 no longer match.
  const renewed = await sdkClient(writeFlagData(dir, SEGMENT, second), errors)
  try {
    for (const key of ['alice', 'bob']) {
      expect(await evaluate(renewed, key)).toMatchObject({
        value: false,
        reason: { kind: 'FALLTHROUGH', bigSegmentsStatus: 'HEALTHY' }
      })
    }
    for (const key of ['dave', 'carol']) {
      expect(await evaluate(renewed, key)).toMatchObject({
        value: true,
        reason: { kind: 'RULE_MATCH', bigSegmentsStatus: 'HEALTHY' }
      })
    }
  } finally {
    renewed.close()
  }
  expect(errors).toEqual([])
})

it('contexts excluded through POST …/contexts are evaluated by the SDK as LaunchDarkly does', async () => {
  const errors: string[] = []
  await syncOverHttp([['erin', true]])
  const edit = (body: object) =>
    receiver.app.inject({
      method: 'POST',
      url: `${SEGMENT_URL}/contexts`,
      headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
      payload: JSON.stringify(body)
    })
  expect((await edit({ excluded: { add: ['staff-frank', 'erin'] } })).statusCode).toBe(204)
  // A segment rule (LaunchDarkly's format) that would match every staff- key.
  const staffRule = {
    id: 'staff',
    clauses: [{ attribute: 'key', op: 'startsWith', values: ['staff-'], negate: false }]
  }
  const client = await sdkClient(writeFlagData(dir, SEGMENT, await generationFromApi(), [staffRule]), errors)
  try {
    expect((await evaluate(client, 'staff-gina')).value).toBe(true)
    // Excluded: the rule no longer makes it a member.
    expect(await evaluate(client, 'staff-frank')).toMatchObject({
      value: false,
      reason: { kind: 'FALLTHROUGH', bigSegmentsStatus: 'HEALTHY' }
    })
    // Included and excluded: inclusion wins, in the SDK as in LaunchDarkly.
    expect((await evaluate(client, 'erin')).value).toBe(true)
    expect((await edit({ excluded: { remove: ['staff-frank'] } })).statusCode).toBe(204)
    await cacheExpiry()
    expect((await evaluate(client, 'staff-frank')).value).toBe(true)
  } finally {
    client.close()
  }
  expect(errors).toEqual([])
})
