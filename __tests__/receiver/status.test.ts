/** `GET /status` on the SQLite store (the Redis side is in redis-heartbeat.test.ts). */
import type { StatusRep } from '../../src/receiver/routes/status'
import type { SegmentStore } from '../../src/store/types'
import { makeApp, OTHER_ID, PROD_ID, STAGING_ID, TOKENS, type TestApp } from './app-helpers'

let t: TestApp
let failPing = false
beforeAll(() => {
  // The real SQLite store, with a switch to make its ping fail as an unreachable store would.
  const wrapStore = (store: SegmentStore): SegmentStore =>
    new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'ping')
          return () => (failPing ? Promise.reject(new Error('disk gone')) : target.ping())
        const value: unknown = Reflect.get(target, property, receiver)
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      }
    })
  t = makeApp({ wrapStore })
})
afterAll(() => t.close())

async function status(): Promise<{ doc: StatusRep; body: string }> {
  const response = await t.app.inject({ method: 'GET', url: '/status' })
  expect(response.statusCode).toBe(200)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  return { doc: response.json<StatusRep>(), body: response.body }
}

it('lists every environment in the Relay Proxy shape, with no bigSegmentStatus (no SDK reads SQLite)', async () => {
  const { doc, body } = await status()
  expect(Object.keys(doc.environments)).toEqual(['acme/production', 'acme/staging', 'other/test'])
  expect(doc.environments['acme/production']).toEqual({
    envId: PROD_ID,
    envKey: 'production',
    projKey: 'acme',
    status: 'connected',
    connectionStatus: { state: 'VALID', stateSince: expect.any(Number) },
    dataStoreStatus: { state: 'VALID', stateSince: expect.any(Number), database: 'sqlite' }
  })
  expect(doc.environments['acme/staging'].envId).toBe(STAGING_ID)
  expect(doc.environments['other/test'].envId).toBe(OTHER_ID)
  expect(doc.status).toBe('healthy')
  // Open like ld-relay's, and nothing secret in it: no token, no token name, no file path.
  for (const token of Object.values(TOKENS)) expect(body).not.toContain(token)
  expect(body).not.toMatch(/writer|updater|deleter|segments\.db/)
})

it('a failing store makes every environment disconnected and the receiver degraded, until it answers again', async () => {
  const before = (await status()).doc.environments['acme/production'].dataStoreStatus.stateSince
  failPing = true
  const down = (await status()).doc
  const env = down.environments['acme/production']
  expect(down.status).toBe('degraded')
  expect(env).toMatchObject({
    status: 'disconnected',
    dataStoreStatus: { state: 'INTERRUPTED' },
    connectionStatus: { state: 'INTERRUPTED', lastError: { kind: 'STORE_ERROR' } }
  })
  expect(env.dataStoreStatus.stateSince).toBeGreaterThanOrEqual(before)
  failPing = false
  const up = (await status()).doc
  expect(up.status).toBe('healthy')
  expect(up.environments['acme/production'].dataStoreStatus).toMatchObject({
    state: 'VALID',
    stateSince: expect.any(Number)
  })
  expect(up.environments['acme/production'].dataStoreStatus.stateSince).toBeGreaterThanOrEqual(
    env.dataStoreStatus.stateSince
  )
})
