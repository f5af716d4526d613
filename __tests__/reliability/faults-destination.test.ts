/**
 * The destination against a faulty network: the real receiver behind a proxy (node:http, 127.0.0.1)
 * that, per request, passes it on, answers 429 with `X-Ratelimit-Reset`, 500, or a 502 HTML page,
 * never answers, drops the connection before forwarding, or forwards and then drops the connection.
 * Every event must end with the right status (§A4: 429, 5xx, timeouts and network errors retryable),
 * and no event may be reported as a success unless the receiver really applied it.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequestClient, Destination, RetryableError, type JSONObject } from '@segment/actions-core'
import definition from '../../src/destination'
import type { Settings } from '../../src/destination/generated-types'
import { performBatchSync } from '../../src/destination/syncAudience'
import { identifyEvent, payload, presetSubscription } from '../destination/helpers'
import { type LiveReceiver, PROD_ID, startReceiver, TOKENS } from './helpers'

jest.setTimeout(60_000)

/** The proxy's behaviour, chosen by the request's context kind. */
const FATES = ['pass', 'ratelimited', 'broken', 'htmlerror', 'silent', 'dropped', 'droppedafter'] as const
type Fate = (typeof FATES)[number]
const EXPECTED_STATUS: Record<Fate, number> = {
  pass: 204,
  ratelimited: 429,
  broken: 500,
  htmlerror: 502,
  silent: 408,
  dropped: 503,
  droppedafter: 503
}
/** Fates whose request reaches the receiver. */
const FORWARDED: readonly Fate[] = ['pass', 'droppedafter']
const TIMEOUT_MS = 1_000

let receiver: LiveReceiver
let proxy: Server
let proxyUrl: string
const forwardedBodies: string[] = []

beforeAll(async () => {
  receiver = await startReceiver()
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const fate = (JSON.parse(body) as { contextKind: Fate }).contextKind
      const json = (status: number, value: object, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers })
        res.end(JSON.stringify(value))
      }
      switch (fate) {
        case 'ratelimited': {
          const reset = Date.now() + 30_000
          return json(429, { code: 'rate_limited', message: 'slow down' }, { 'x-ratelimit-reset': String(reset), 'retry-after': '30' })
        }
        case 'broken':
          return json(500, { code: 'internal_error', message: 'internal error' })
        case 'htmlerror':
          res.writeHead(502, { 'content-type': 'text/html' })
          return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>')
        case 'silent':
          return // never answers; the client's timeout ends it
        case 'dropped':
          return req.socket.destroy()
        default: {
          forwardedBodies.push(body)
          const answer = await fetch(`${receiver.url}${req.url}`, {
            method: 'POST',
            headers: { authorization: String(req.headers.authorization), 'content-type': String(req.headers['content-type']) },
            body
          })
          const text = await answer.text()
          if (fate === 'droppedafter') return req.socket.destroy()
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' })
          res.end(text)
        }
      }
    })
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
})

afterAll(async () => {
  proxy.closeAllConnections()
  await new Promise((resolve) => proxy.close(resolve))
  await receiver.close()
})

const settings = (): Settings => ({ apiKey: TOKENS.writer, clientId: PROD_ID, apiBaseUrl: proxyUrl })

/** Is this member in the receiver's segment for (fate, audience)? undefined when the segment does not exist. */
async function appliedValue(fate: Fate, userId: string): Promise<boolean | undefined> {
  const response = await receiver.request('GET', `/api/v2/segments/acme/production/segment-audiences-aud_${fate}/contexts/${encodeURIComponent(userId)}`, {
    headers: { authorization: TOKENS.reader }
  })
  if (response.status === 404) return undefined
  return (JSON.parse(response.body) as { included: boolean }).included
}

it('performBatch: every event gets its request\'s status, and only applied events are successes', async () => {
  // 6 events per fate, interleaved, a few removes; 2 members per request, so each fate spans 3 requests.
  const events = FATES.flatMap((fate) =>
    Array.from({ length: 6 }, (_, i) => ({ fate, userId: `${fate}-user-${i}`, value: i % 3 !== 2 }))
  ).sort((a, b) => Number(a.userId.slice(-1)) - Number(b.userId.slice(-1)))
  const payloads = events.map((e) =>
    payload({
      segment_audience_id: `aud_${e.fate}`,
      segment_audience_key: `key_${e.fate}`,
      context_kind: e.fate,
      segment_user_id: e.userId,
      traits_or_props: { [`key_${e.fate}`]: e.value },
      batch_size: 2
    })
  )
  const extended = definition.extendRequest?.({ settings: settings(), payload: undefined } as never) ?? {}
  const request = createRequestClient(extended, { timeout: TIMEOUT_MS })

  const started = Date.now()
  const response = await performBatchSync(request, payloads, settings())
  const elapsed = Date.now() - started
  const entries = events.map((_, i) => response.getResponseAtIndex(i).value() as { status: number; errormessage?: string })

  expect(entries.map((entry, i) => [events[i].userId, entry.status])).toEqual(events.map((e) => [e.userId, EXPECTED_STATUS[e.fate]]))
  for (const [i, entry] of entries.entries()) {
    const { fate, userId, value } = events[i]
    const applied = await appliedValue(fate, userId)
    if (entry.status < 300) expect({ userId, applied }).toEqual({ userId, applied: value })
    else expect(entry.errormessage).toMatch(new RegExp(`${entry.status}|did not answer in time|Could not reach`))
    // Nothing reached the receiver but what the proxy forwarded.
    if (!FORWARDED.includes(fate)) expect({ userId, applied }).toEqual({ userId, applied: undefined })
  }
  // Forwarded, applied, but the answer was lost: reported retryable (a retry is harmless), never success.
  for (const [i, e] of events.entries()) if (e.fate === 'droppedafter') expect([entries[i].status, await appliedValue(e.fate, e.userId)]).toEqual([503, e.value])
  // Four in flight at most: 3 silent requests cost about one timeout, not three.
  expect(elapsed).toBeLessThan(3 * TIMEOUT_MS)
  if (process.env.RELIABILITY_REPORT) {
    console.log(`destination faults: ${events.length} events, ${forwardedBodies.length} requests forwarded, statuses ${JSON.stringify(entries.map((e) => e.status))}, ${elapsed} ms`)
  }
})

it('rejects, alone, an event whose context key the receiver could not store (an unpaired surrogate)', async () => {
  const direct: Settings = { apiKey: TOKENS.writer, clientId: PROD_ID, apiBaseUrl: receiver.url }
  const users = ['plain-user', 'broken-\ud800', 'emoji-😀']
  const payloads = users.map((userId) =>
    payload({ segment_audience_id: 'aud_keys', segment_audience_key: 'key_keys', segment_user_id: userId, traits_or_props: { key_keys: true } })
  )
  const request = createRequestClient(definition.extendRequest?.({ settings: direct, payload: undefined } as never) ?? {}, { timeout: TIMEOUT_MS })
  const response = await performBatchSync(request, payloads, direct)
  expect(users.map((_, i) => (response.getResponseAtIndex(i).value() as { status: number }).status)).toEqual([204, 400, 204])
  const members = await receiver.request('GET', '/api/v2/segments/acme/production/segment-audiences-aud_keys/members', { headers: { authorization: TOKENS.reader } })
  expect(JSON.parse(members.body)).toMatchObject({ totalCount: 2, items: ['emoji-😀', 'plain-user'] })
})

describe("actions-core's Destination runner (perform, one event)", () => {
  const destination = new Destination<Settings>(definition)
  const runnerSettings = (): JSONObject =>
    ({
      ...settings(),
      subscriptions: [{ ...presetSubscription, mapping: { ...presetSubscription.mapping, context_kind: { '@path': '$.context.kind' } } }]
    }) as unknown as JSONObject

  const event = (fate: Fate, userId: string) => {
    const e = identifyEvent({ userId, audienceId: `aud_${fate}`, audienceKey: `key_${fate}`, value: true })
    return { ...e, context: { ...e.context, kind: fate } }
  }

  it.each(['ratelimited', 'broken', 'htmlerror', 'dropped', 'droppedafter'] as const)('%s: throws a RetryableError with the status', async (fate) => {
    const userId = `runner-${fate}`
    const error = await destination.onEvent(event(fate, userId), runnerSettings()).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(RetryableError)
    expect(error).toMatchObject({ status: EXPECTED_STATUS[fate] })
    expect(await appliedValue(fate, userId)).toBe(fate === 'droppedafter' ? true : undefined)
  })

  it('pass: succeeds and the receiver has the member', async () => {
    await destination.onEvent(event('pass', 'runner-pass'), runnerSettings())
    expect(await appliedValue('pass', 'runner-pass')).toBe(true)
  })
})
