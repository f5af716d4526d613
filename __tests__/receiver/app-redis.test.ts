/** The receiver on the Redis store (`--store redis://…`): same API, and /healthz follows Redis. */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { openStore } from '../../src/store/open'
import { audienceBody, get, sync, tempDir, testConfig } from './app-helpers'

jest.setTimeout(60_000)

let redis: RedisServer
let receiver: Receiver
const dir = tempDir('receiver-redis-')

beforeAll(async () => {
  redis = await startRedisServer()
  const config = testConfig()
  const projects = config.projects as { key: string; environments: { key: string; redisPrefix?: string }[] }[]
  // One prefix per environment, as the Redis store requires.
  projects[0].environments[0].redisPrefix = 'acme-prod'
  projects[0].environments[1].redisPrefix = 'acme-staging'
  projects[1].environments[0].redisPrefix = 'other-test'
  receiver = await createReceiver({ dataDir: join(dir, 'data'), store: redis.url, config })
})
afterAll(async () => {
  await receiver?.close()
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

it('syncs and reads back through Redis', async () => {
  const body = audienceBody([
    { userId: 'u1', value: true },
    { userId: 'u2', value: true }
  ])
  expect((await sync(receiver.app, 'segment-audiences', body)).statusCode).toBe(204)
  expect((await sync(receiver.app, 'segment-audiences', audienceBody([{ userId: 'u2', value: false }]))).statusCode).toBe(204)
  const segment = await get(receiver.app, '/api/v2/segments/acme/production/segment-audiences-aud-1')
  expect(segment.json()).toMatchObject({ key: 'segment-audiences-aud-1', includedCount: 1, generation: 1 })
  expect((await get(receiver.app, '/api/v2/segments/acme/production/segment-audiences-aud-1/members')).json()).toEqual({
    totalCount: 1,
    items: ['u1'],
    next: null
  })
})

it('answers /healthz 503 while Redis is down and 200 once it is back', async () => {
  expect((await get(receiver.app, '/healthz', null)).statusCode).toBe(200)
  await redis.kill()
  const down = await get(receiver.app, '/healthz', null)
  expect(down.statusCode).toBe(503)
  expect(down.json()).toMatchObject({ code: 'service_unavailable' })
  await redis.start()
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await get(receiver.app, '/healthz', null)).statusCode
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  expect(status).toBe(200)
})

it('openStore refuses what it does not know', async () => {
  await expect(openStore('postgres://x', dir)).rejects.toThrow('unknown store "postgres://x": use "sqlite" or a redis:// URL')
})
