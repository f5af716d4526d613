/** A Redis outage answers 503 saying the store is unavailable, in our words, not ioredis's. */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { get, tempDir, testConfig } from '../receiver/app-helpers'

jest.setTimeout(60_000)

let redis: RedisServer
let receiver: Receiver
const dir = tempDir('redis-outage-')

beforeAll(async () => {
  redis = await startRedisServer()
  const config = testConfig()
  const projects = config.projects as { environments: { redisPrefix?: string }[] }[]
  projects.forEach((p, i) => p.environments.forEach((e, j) => (e.redisPrefix = `outage-${i}-${j}`)))
  receiver = await createReceiver({ dataDir: join(dir, 'data'), store: redis.url, config })
})
afterAll(async () => {
  await receiver?.close()
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

it('answers 503 "Redis store unavailable (host:port): …" without the client library\'s text', async () => {
  await redis.kill()
  const response = await get(receiver.app, '/api/v2/segments/acme/production/segment-audiences-aud-1')
  expect(response.statusCode).toBe(503)
  const { code, message } = response.json() as { code: string; message: string }
  expect(code).toBe('service_unavailable')
  expect(message).toMatch(
    /^Redis store unavailable \(127\.0\.0\.1:\d+\): (not connected|connection refused|connection reset|no answer in time)$/
  )
  expect(message).not.toMatch(/Connection is closed|Stream isn't writeable|enableOfflineQueue/)
})
