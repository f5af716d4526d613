/**
 * §C3 against the real parts: a receiver on a real Redis refreshes big_segments_synchronized_on on
 * a short heartbeat, LaunchDarkly's own Node SDK (RedisBigSegmentStore, staleAfter 2 s) stays
 * HEALTHY across idle time longer than staleAfter while the receiver runs and goes STALE once it
 * stops; `GET /status` reports it in the Relay Proxy's shape. Nothing leaves the machine.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type * as ld from '@launchdarkly/node-server-sdk'
import Redis from 'ioredis'
import nock from 'nock'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import type { StatusRep } from '../../src/receiver/routes/status'
import { evaluate, sdkClient, writeFlagData } from '../helpers/ld-sdk'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { audienceBody, sync, tempDir, TOKENS } from './app-helpers'

jest.setTimeout(60_000)

const PROD_ID = 'client-heartbeat-prod'
const STAGING_ID = 'client-heartbeat-staging'
const SEGMENT = 'segment-audiences-aud_hb'
const HEARTBEAT_MS = 300

const dir = tempDir('receiver-heartbeat-')
let redis: RedisServer
let raw: Redis

const config = {
  projects: [
    {
      key: 'shop',
      environments: [
        { key: 'production', clientSideId: PROD_ID, redisPrefix: 'hb-prod' },
        { key: 'staging', clientSideId: STAGING_ID, redisPrefix: 'hb-staging' }
      ]
    }
  ],
  tokens: [{ name: 'writer', token: TOKENS.writer, actions: '*', environments: '*' }]
}

function start(heartbeatMs = HEARTBEAT_MS, url = redis.url): Promise<Receiver> {
  return createReceiver({ dataDir: join(dir, 'data'), store: url, config, heartbeatMs })
}

async function status(receiver: Receiver): Promise<StatusRep> {
  const response = await receiver.app.inject({ method: 'GET', url: '/status' })
  expect(response.statusCode).toBe(200)
  return response.json<StatusRep>()
}

const synchronizedOn = async (prefix: string): Promise<number> =>
  Number(await raw.get(`${prefix}:big_segments_synchronized_on`))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  nock.disableNetConnect()
  nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/)
  redis = await startRedisServer()
  raw = new Redis(redis.url)
})

afterAll(async () => {
  raw?.disconnect()
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
  nock.enableNetConnect()
})

beforeEach(async () => {
  await raw.flushall()
})

it('the SDK stays HEALTHY across idle time longer than staleAfter while the receiver runs, and goes STALE after it stops', async () => {
  const receiver = await start()
  let stopped = false
  let client: ld.LDClient | undefined
  try {
    const response = await sync(
      receiver.app,
      'segment-audiences',
      audienceBody([{ userId: 'ada', cohortId: 'aud_hb', value: true }], { environmentId: PROD_ID })
    )
    expect(response.statusCode).toBe(204)
    const errors: string[] = []
    client = await sdkClient({
      flagFile: writeFlagData(dir, SEGMENT, 1),
      errors,
      redisPort: redis.port,
      prefix: 'hb-prod',
      bigSegments: { staleAfter: 2, statusPollInterval: 0.1 }
    })
    // 5 s without a sync: more than twice staleAfter. Checked throughout, not only at the end.
    const idleUntil = Date.now() + 5_000
    while (Date.now() < idleUntil) {
      const detail = await evaluate(client, 'ada')
      expect(detail.value).toBe(true)
      expect(detail.reason.bigSegmentsStatus).toBe('HEALTHY')
      await sleep(250)
    }
    expect(errors).toEqual([])

    await receiver.close()
    stopped = true
    const deadline = Date.now() + 10_000
    let detail = await evaluate(client, 'ada')
    while (detail.reason.bigSegmentsStatus !== 'STALE' && Date.now() < deadline) {
      await sleep(100)
      detail = await evaluate(client, 'ada')
    }
    // Membership is still read; only its freshness is in doubt.
    expect(detail).toMatchObject({ value: true, reason: { bigSegmentsStatus: 'STALE' } })
  } finally {
    client?.close()
    if (!stopped) await receiver.close()
  }
})

it('refuses a heartbeat interval that is not a whole number of milliseconds ≥ 0', async () => {
  await expect(start(-1)).rejects.toThrow('heartbeatMs must be a whole number of milliseconds')
  await expect(start(0.5)).rejects.toThrow('heartbeatMs must be a whole number of milliseconds')
})

it('with the heartbeat off, only writes move the mark', async () => {
  const receiver = await start(0)
  try {
    expect(await raw.get('hb-prod:big_segments_synchronized_on')).toBeNull()
    const response = await sync(
      receiver.app,
      'segment-audiences',
      audienceBody([{ userId: 'ada', cohortId: 'aud_hb', value: true }], { environmentId: PROD_ID })
    )
    expect(response.statusCode).toBe(204)
    const written = await synchronizedOn('hb-prod')
    expect(written).toBeGreaterThan(0)
    await sleep(HEARTBEAT_MS * 2)
    expect(await synchronizedOn('hb-prod')).toBe(written)
    expect(await raw.get('hb-staging:big_segments_synchronized_on')).toBeNull()
  } finally {
    await receiver.close()
  }
})

it('refreshes every environment on the timer, and stops on close', async () => {
  const receiver = await start()
  const first = { prod: await synchronizedOn('hb-prod'), staging: await synchronizedOn('hb-staging') }
  // The first beat runs at start, before any sync.
  expect(first.prod).toBeGreaterThan(0)
  expect(first.staging).toBeGreaterThan(0)
  await sleep(HEARTBEAT_MS * 3)
  expect(await synchronizedOn('hb-prod')).toBeGreaterThan(first.prod)
  expect(await synchronizedOn('hb-staging')).toBeGreaterThan(first.staging)

  await receiver.close()
  const after = await synchronizedOn('hb-prod')
  await sleep(HEARTBEAT_MS * 3)
  expect(await synchronizedOn('hb-prod')).toBe(after)
})

it('never moves the mark backwards (a receiver with a slow clock beside others)', async () => {
  const future = Date.now() + 3_600_000
  await raw.set('hb-prod:big_segments_synchronized_on', String(future))
  const receiver = await start()
  try {
    await sleep(HEARTBEAT_MS * 2)
    expect(await synchronizedOn('hb-prod')).toBe(future)
  } finally {
    await receiver.close()
  }
})

it('GET /status: the Relay Proxy document, per environment, without a token and without secrets', async () => {
  const receiver = await start()
  try {
    const response = await receiver.app.inject({ method: 'GET', url: '/status' })
    expect(response.statusCode).toBe(200)
    const before = Date.now()
    const doc = response.json<StatusRep>()
    const port = String(redis.port)
    expect(doc).toEqual({
      environments: {
        'shop/production': {
          envId: PROD_ID,
          envKey: 'production',
          projKey: 'shop',
          status: 'connected',
          connectionStatus: { state: 'VALID', stateSince: expect.any(Number) },
          dataStoreStatus: {
            state: 'VALID',
            stateSince: expect.any(Number),
            database: 'redis',
            dbServer: `redis://127.0.0.1:${port}`,
            dbPrefix: 'hb-prod'
          },
          bigSegmentStatus: {
            available: true,
            potentiallyStale: false,
            lastSynchronizedOn: expect.any(Number)
          }
        },
        'shop/staging': expect.objectContaining({
          envId: STAGING_ID,
          dataStoreStatus: expect.objectContaining({ dbPrefix: 'hb-staging' })
        })
      },
      status: 'healthy',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/)
    })
    const synced = doc.environments['shop/production'].bigSegmentStatus?.lastSynchronizedOn ?? 0
    expect(before - synced).toBeLessThan(HEARTBEAT_MS * 4)
    expect(response.body).not.toContain(TOKENS.writer)
    expect(response.body).not.toContain('writer')
  } finally {
    await receiver.close()
  }
})

it('GET /status: potentiallyStale when nothing refreshes the mark (heartbeat off, last write long ago)', async () => {
  await raw.set('hb-prod:big_segments_synchronized_on', String(Date.now() - 10 * 60_000))
  const receiver = await start(0)
  try {
    const doc = await status(receiver)
    expect(doc.environments['shop/production'].bigSegmentStatus).toEqual({
      available: true,
      potentiallyStale: true,
      lastSynchronizedOn: expect.any(Number)
    })
    // Never written at all: stale, with 0 as ld-relay shows an undefined time.
    expect(doc.environments['shop/staging'].bigSegmentStatus).toEqual({
      available: true,
      potentiallyStale: true,
      lastSynchronizedOn: 0
    })
    // Staleness alone does not degrade the receiver (ld-relay's default).
    expect(doc.status).toBe('healthy')
  } finally {
    await receiver.close()
  }
})

it('GET /status: Redis down is INTERRUPTED, disconnected, big segments unavailable, degraded — and VALID again once it is back', async () => {
  const receiver = await start()
  try {
    const up = await status(receiver)
    await redis.kill()
    const down = await status(receiver)
    const env = down.environments['shop/production']
    expect(down.status).toBe('degraded')
    expect(env.status).toBe('disconnected')
    expect(env.dataStoreStatus.state).toBe('INTERRUPTED')
    expect(env.dataStoreStatus.stateSince).toBeGreaterThanOrEqual(
      up.environments['shop/production'].dataStoreStatus.stateSince
    )
    expect(env.connectionStatus).toEqual({
      state: 'INTERRUPTED',
      stateSince: env.dataStoreStatus.stateSince,
      lastError: { kind: 'STORE_ERROR', time: expect.any(Number) }
    })
    expect(env.bigSegmentStatus).toEqual({ available: false, potentiallyStale: true, lastSynchronizedOn: 0 })

    await redis.start()
    const deadline = Date.now() + 10_000
    let again = await status(receiver)
    while (again.status !== 'healthy' && Date.now() < deadline) {
      await sleep(100)
      again = await status(receiver)
    }
    expect(again.environments['shop/production']).toMatchObject({
      status: 'connected',
      dataStoreStatus: { state: 'VALID' },
      bigSegmentStatus: { available: true }
    })
  } finally {
    await receiver.close()
  }
})

it('GET /status never shows Redis credentials', async () => {
  await raw.config('SET', 'requirepass', 's3cret-pass')
  try {
    const url = redis.url.replace('redis://', 'redis://:s3cret-pass@')
    const receiver = await start(HEARTBEAT_MS, url)
    try {
      const response = await receiver.app.inject({ method: 'GET', url: '/status' })
      expect(response.json<StatusRep>().environments['shop/production'].dataStoreStatus.dbServer).toBe(
        `redis://127.0.0.1:${redis.port}`
      )
      expect(response.body).not.toContain('s3cret')
    } finally {
      await receiver.close()
    }
  } finally {
    const admin = new Redis(redis.url, { password: 's3cret-pass' })
    await admin.config('SET', 'requirepass', '')
    admin.disconnect()
  }
})
