/**
 * Shared set-up of the reliability suite: a receiver listening on 127.0.0.1 (real sockets), its
 * state read back through the read API only, raw-socket requests, and the checks every response
 * must pass (JSON, no stack trace, no HTML, no file path, no token).
 */
import { request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/receiver/app'
import { parseConfig } from '../../src/receiver/config'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations, type CompiledIntegration } from '../../src/receiver/integrations'
import { openSqliteStore } from '../../src/store/sqlite'
import type { SegmentStore } from '../../src/store/types'
import { captureLog, tempDir, testConfig, TOKENS } from '../receiver/app-helpers'

export { PROD_ID, STAGING_ID, OTHER_ID, TOKENS, testConfig, tempDir, audienceBody } from '../receiver/app-helpers'

export const ENVIRONMENTS = ['acme/production', 'acme/staging', 'other/test'] as const
export const ALL_TOKENS = [...Object.values(TOKENS)]

let bundled: Map<string, CompiledIntegration> | undefined
export function bundledIntegrations(): Map<string, CompiledIntegration> {
  bundled ??= loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
  return bundled
}

export interface Response {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface LiveReceiver {
  app: FastifyInstance
  store: SegmentStore
  url: string
  port: number
  /** Everything the app logged (pino JSON lines), when started with `log: true`. */
  log(): string
  /** Any method, any path (not normalised), any body, over a keep-alive connection. */
  request(method: string, path: string, options?: { headers?: Record<string, string>; body?: string | Buffer }): Promise<Response>
  close(): Promise<void>
}

export async function startReceiver(
  options: { config?: Record<string, unknown>; requestTimeoutMs?: number; log?: boolean; store?: SegmentStore } = {}
): Promise<LiveReceiver> {
  const dir = tempDir('reliability-')
  const sqlite = options.store ? undefined : openSqliteStore({ path: join(dir, 'segments.db') })
  const store = options.store ?? (sqlite as SegmentStore)
  const { stream, log } = captureLog()
  const app = buildApp({
    store,
    integrations: bundledIntegrations(),
    config: parseConfig(options.config ?? testConfig()),
    requestTimeoutMs: options.requestTimeoutMs,
    logger: options.log ? { level: 'trace', stream } : false
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  const request: LiveReceiver['request'] = (method, path, { headers = {}, body } = {}) =>
    new Promise((resolve, reject) => {
      // An explicit length: Node's client would send a DELETE or OPTIONS body without one.
      const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...length, ...headers }, agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  return {
    app,
    store,
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    request,
    close: async () => {
      agent.destroy()
      await app.close()
      await sqlite?.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** POST to segment-targets with the writer token (by default) and a JSON content type. */
export function postSync(
  receiver: LiveReceiver,
  integrationKey: string,
  body: string | Buffer,
  headers: Record<string, string> = {}
): Promise<Response> {
  return receiver.request('POST', `/api/v2/segment-targets/${integrationKey}`, {
    headers: { authorization: TOKENS.writer, 'content-type': 'application/json', ...headers },
    body
  })
}

/**
 * Every segment of every environment with all its members, read through the read API (list,
 * segment, streamed members) with the writer token — what a client can observe.
 */
export async function readState(receiver: Pick<LiveReceiver, 'request'>): Promise<Record<string, { segment: unknown; members: string[] }>> {
  const headers = { authorization: TOKENS.writer }
  const state: Record<string, { segment: unknown; members: string[] }> = {}
  for (const env of ENVIRONMENTS) {
    for (let offset = 0; ; offset += 50) {
      const list = await receiver.request('GET', `/api/v2/segments/${env}?limit=50&offset=${offset}`, { headers })
      if (list.status !== 200) throw new Error(`listing ${env} answered ${list.status}: ${list.body}`)
      const page = JSON.parse(list.body) as { items: { key: string }[]; totalCount: number }
      for (const segment of page.items) {
        state[`${env}/${segment.key}`] = { segment, members: await readMembers(receiver, env, segment.key) }
      }
      if (offset + 50 >= page.totalCount) break
    }
  }
  return state
}

/** All members of a segment through the streamed, cursor-paged members endpoint. */
export async function readMembers(receiver: Pick<LiveReceiver, 'request'>, env: string, segmentKey: string, pageSize = 100_000): Promise<string[]> {
  const members: string[] = []
  let after: string | null = null
  for (;;) {
    const query: string = `limit=${pageSize}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`
    const response = await receiver.request('GET', `/api/v2/segments/${env}/${encodeURIComponent(segmentKey)}/members?${query}`, {
      headers: { authorization: TOKENS.writer }
    })
    if (response.status !== 200) throw new Error(`members of ${segmentKey} answered ${response.status}: ${response.body}`)
    const page = JSON.parse(response.body) as { items: string[]; next: string | null; totalCount: number }
    members.push(...page.items)
    if (page.next === null) return members
    after = page.next
  }
}

/** Byte-wise (UTF-8) order, the order the members endpoint promises. */
export function byteOrder(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
}

const LEAKS: [string, RegExp][] = [
  ['HTML', /<html|<!doctype|<body|<pre/i],
  ['a stack frame', /\bat [\w$.<>]+ \(|\bat (?:async )?\/|\n\s+at /],
  ['a file path', /\/(?:work|home|root|tmp|usr|src)\/|node_modules|\.[jt]s:\d+/],
  ['an error class name', /\b(?:TypeError|RangeError|SyntaxError|ReferenceError): /]
]

/** What a response body must never contain; returns the problems found (empty when clean). */
export function leaksIn(body: string, secrets: readonly string[] = ALL_TOKENS): string[] {
  const problems = LEAKS.filter(([, pattern]) => pattern.test(body)).map(([name]) => `${name} in ${JSON.stringify(body.slice(0, 300))}`)
  for (const secret of secrets) if (body.includes(secret)) problems.push('a token')
  return problems
}

/** A JSON error answer: status, JSON content type, `{code, message}` (or an integration's template), nothing leaked. */
export function expectJsonError(response: Response, status: number, code?: string): Record<string, unknown> {
  expect({ status: response.status, body: response.body.slice(0, 300) }).toEqual({ status, body: response.body.slice(0, 300) })
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  expect(leaksIn(response.body)).toEqual([])
  const body = JSON.parse(response.body) as Record<string, unknown>
  if (code !== undefined) expect(body.code).toBe(code)
  return body
}

/**
 * Writes raw bytes (in parts, `pauseMs` apart) and resolves with what the server answers before it
 * closes, and how long that took. Never waits longer than `giveUpMs`.
 */
export function rawExchange(
  port: number,
  parts: (string | Buffer)[],
  options: { pauseMs?: number; giveUpMs?: number; keepWriting?: { chunk: string; everyMs: number } } = {}
): Promise<{ response: string; elapsedMs: number; closed: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1')
    let response = ''
    let done = false
    let trickle: NodeJS.Timeout | undefined
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(giveUp)
      if (trickle) clearInterval(trickle)
      socket.destroy()
      resolve({ response, elapsedMs: Date.now() - started, closed })
    }
    const giveUp = setTimeout(() => finish(false), options.giveUpMs ?? 10_000)
    socket.on('data', (chunk) => {
      response += chunk.toString('utf8')
      // A complete answer ends the exchange even when the server keeps the connection open.
      const split = response.indexOf('\r\n\r\n')
      const length = /\r\ncontent-length: *(\d+)/i.exec(response.slice(0, split))
      if (split >= 0 && length && Buffer.byteLength(response.slice(split + 4)) >= Number(length[1])) finish(false)
    })
    socket.on('close', () => finish(true))
    socket.on('error', () => finish(true))
    socket.on('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs))
        if (!socket.writable) return
        socket.write(part)
      }
      const keep = options.keepWriting
      if (keep) trickle = setInterval(() => socket.writable && socket.write(keep.chunk), keep.everyMs)
    })
  })
}

/** Splits a raw HTTP/1.1 answer into status, headers and body. */
export function parseRaw(raw: string): Response {
  const split = raw.indexOf('\r\n\r\n')
  const head = split < 0 ? raw : raw.slice(0, split)
  const [statusLine, ...lines] = head.split('\r\n')
  const headers: IncomingHttpHeaders = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: split < 0 ? '' : raw.slice(split + 4) }
}

/** Polls until `check` holds (no fixed sleeps), failing after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A small seeded PRNG (the fixtures' mulberry32): load and fault tests are the same on every run. */
export { seededRandom as prng } from '../../scripts/generate-engage-fixtures'
