/** What only a real socket shows (malformed HTTP, chunked bodies), and what reaches the log. */
import { connect } from 'node:net'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { buildApp } from '../../src/receiver/app'
import { parseConfig } from '../../src/receiver/config'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations } from '../../src/receiver/integrations'
import { openSqliteStore } from '../../src/store/sqlite'
import type { SegmentStore } from '../../src/store/types'
import { audienceBody, captureLog, REQUEST_ID, snapshot, sync, tempDir, testConfig, TOKENS } from './app-helpers'

const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])

function setUp(options: { config?: Record<string, unknown>; store?: (s: SegmentStore) => SegmentStore } = {}) {
  const dir = tempDir()
  const sqlite = openSqliteStore({ path: join(dir, 'segments.db') })
  const { stream, log } = captureLog()
  const app = buildApp({
    store: options.store ? options.store(sqlite) : sqlite,
    integrations,
    config: parseConfig(options.config ?? testConfig()),
    logger: { level: 'trace', stream }
  })
  return {
    app,
    store: sqlite,
    log,
    close: async () => {
      await app.close()
      await sqlite.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Writes raw bytes to the server and resolves with everything it answers before closing. */
function raw(port: number, request: string | string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let response = ''
    socket.on('data', (chunk) => (response += chunk.toString()))
    socket.on('end', () => resolve(response))
    socket.on('error', reject)
    socket.on('connect', () => {
      for (const part of typeof request === 'string' ? [request] : request) socket.write(part)
    })
  })
}

function jsonBodyOf(response: string): unknown {
  const [head, body] = response.split('\r\n\r\n')
  expect(head).toMatch(/content-type: application\/json/i)
  return JSON.parse(body)
}

describe('over a real socket', () => {
  let t: ReturnType<typeof setUp>
  let port: number
  beforeAll(async () => {
    t = setUp({ config: testConfig({ bodyLimitBytes: 2048 }) })
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    port = (t.app.server.address() as AddressInfo).port
  })
  afterAll(() => t.close())

  it('answers malformed HTTP with a JSON 400', async () => {
    const response = await raw(port, 'THIS IS NOT HTTP\r\n\r\n')
    expect(response).toMatch(/^HTTP\/1\.1 400 /)
    expect(jsonBodyOf(response)).toEqual({ code: 'invalid_request', message: 'malformed HTTP request', id: expect.stringMatching(REQUEST_ID) })
  })

  it('stops a chunked body at the limit with a JSON 413 and applies nothing', async () => {
    const before = await snapshot(t.store)
    const body = JSON.stringify(audienceBody(Array.from({ length: 100 }, (_, i) => ({ userId: `user-${i}`, value: true }))))
    const chunks = [body.slice(0, 1500), body.slice(1500)]
    const response = await raw(port, [
      'POST /api/v2/segment-targets/segment-audiences HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: ${TOKENS.writer}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      ...chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`),
      '0\r\n\r\n'
    ])
    expect(response).toMatch(/^HTTP\/1\.1 413 /)
    expect(jsonBodyOf(response)).toMatchObject({ code: 'request_too_large' })
    expect(await snapshot(t.store)).toEqual(before)
  })

  it('accepts a chunked body within the limit', async () => {
    const body = JSON.stringify(audienceBody([{ userId: 'chunked', value: true }]))
    const response = await raw(port, [
      'POST /api/v2/segment-targets/segment-audiences HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${TOKENS.writer}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`,
      '0\r\n\r\n'
    ])
    expect(response).toMatch(/^HTTP\/1\.1 204 /)
    expect(await t.store.isIncluded({ projectKey: 'acme', environmentKey: 'production' }, 'segment-audiences-aud-1', 'chunked')).toBe(true)
  })
})

describe('the log', () => {
  it('never holds a token, holds nothing per successful request, and keeps a 500 error details', async () => {
    let failNext = false
    const t = setUp({
      store: (s) =>
        Object.assign(Object.create(s) as SegmentStore, {
          apply: (...args: Parameters<SegmentStore['apply']>) =>
            failNext ? Promise.reject(new Error('disk /secret/path exploded')) : s.apply(...args)
        })
    })
    try {
      const body = audienceBody([{ userId: 'u1', value: true }])
      expect((await sync(t.app, 'segment-audiences', body)).statusCode).toBe(204)
      expect((await sync(t.app, 'segment-audiences', body, { token: `Bearer ${TOKENS.reader}` })).statusCode).toBe(403)
      expect((await sync(t.app, 'segment-audiences', body, { token: 'not-a-configured-token' })).statusCode).toBe(403)
      expect(t.log()).toBe('')

      failNext = true
      const response = await sync(t.app, 'segment-audiences', body)
      expect(response.statusCode).toBe(500)
      expect(response.body).not.toContain('secret')
      expect(t.log()).toContain('disk /secret/path exploded')
      // The id the client got leads to the log line with the details.
      const { id } = response.json<{ id: string }>()
      expect(id).toMatch(REQUEST_ID)
      expect(t.log()).toContain(`"reqId":"${id}"`)
      for (const token of [...Object.values(TOKENS), 'not-a-configured-token']) expect(t.log()).not.toContain(token)
    } finally {
      await t.close()
    }
  })
})
