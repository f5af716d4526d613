/**
 * A catalogue of hostile input, over real sockets (127.0.0.1): every entry is answered with its
 * documented 4xx and a JSON body without stack traces, HTML, file paths or tokens; afterwards the
 * state read through the read API is exactly what it was, and the receiver still answers.
 */
import { TOKENS } from '../receiver/app-helpers'
import {
  audienceBody,
  expectJsonError,
  leaksIn,
  type LiveReceiver,
  parseRaw,
  postSync,
  PROD_ID,
  rawExchange,
  readState,
  type Response,
  startReceiver,
  testConfig
} from './helpers'
import { bodyFor, bundledManifests, type Manifest, pointersOf, setAt } from './model'

jest.setTimeout(120_000)

const BODY_LIMIT = 1024 * 1024
const REQUEST_TIMEOUT_MS = 1_000
const SA = 'segment-audiences'

let receiver: LiveReceiver
/** Every response of the catalogue, for the final scan. */
const seen: Response[] = []

const manifests = bundledManifests()

/** A valid body of each integration: one member added to and one removed from cohort `seeded`, in production. */
function validBody(manifest: Manifest): Record<string, unknown> {
  return bodyFor(manifest, {
    environmentId: PROD_ID,
    contextKind: 'user',
    cohortId: 'seeded',
    cohortName: 'Seeded',
    cohortUrl: 'https://example.com/seeded',
    action: ['add', 'add_members', 'add_member'].find((a) => new RegExp(manifest.parser.arrayInclusion?.matcher ?? '$^').test(a)),
    members: [
      { id: 'hostile-1', included: true, cohortId: 'seeded', cohortName: 'Seeded' },
      { id: 'hostile-2', included: false }
    ]
  })
}

const MARK = '\u0000raw\u0000'
/** The body as JSON text with the value at `pointer` replaced by `raw` JSON text (which may be invalid JS, e.g. 1e400). */
function withRaw(body: Record<string, unknown>, pointer: string, raw: string): string {
  const copy = JSON.parse(JSON.stringify(body)) as Record<string, unknown>
  setAt(copy, pointer, MARK)
  return JSON.stringify(copy).replace(JSON.stringify(MARK), raw)
}

/** The body with the value at `pointer` moved under a `__proto__` (or `constructor`) key of its parent. */
function hiddenBehind(body: Record<string, unknown>, pointer: string, key: '__proto__' | 'constructor'): string {
  const copy = JSON.parse(JSON.stringify(body)) as Record<string, unknown>
  const path = pointer.slice(1).split('/')
  let parent: Record<string, unknown> = copy
  for (const token of path.slice(0, -1)) parent = parent[token] as Record<string, unknown>
  const last = path[path.length - 1]
  const value = parent[last]
  delete parent[last]
  // An own key, as JSON.parse would make it (plain assignment would set the prototype instead).
  Object.defineProperty(parent, key, { value: key === '__proto__' ? { [last]: value } : { prototype: { [last]: value } }, enumerable: true })
  return JSON.stringify(copy)
}

const deepArray = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`
const deepObject = (n: number): string => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`
const sa = (raw: string) => (): Promise<Response> => postSync(receiver, SA, raw)
const saBody = (mutate: (members: Record<string, unknown>[]) => void, extra: Record<string, unknown> = {}) => {
  const body = { ...audienceBody([{ userId: 'hostile-9', value: true }, { userId: 'hostile-10', value: false }]), ...extra } as {
    batch: Record<string, unknown>[]
  }
  mutate(body.batch)
  return JSON.stringify(body)
}

interface Case {
  name: string
  send: () => Promise<Response>
  status: number
  code?: string
}

// ---- bodies -------------------------------------------------------------------------------------
const bodyCases: Case[] = [
  { name: 'JSON null', send: sa('null'), status: 400 },
  { name: 'JSON array', send: sa('[]'), status: 400 },
  { name: 'JSON array of a valid body', send: sa(`[${JSON.stringify(audienceBody([{ userId: 'hostile-9', value: true }]))}]`), status: 400 },
  { name: 'JSON string', send: sa('"hello"'), status: 400 },
  { name: 'JSON number', send: sa('42'), status: 400 },
  { name: 'JSON true', send: sa('true'), status: 400 },
  { name: 'empty body', send: sa(''), status: 400 },
  { name: 'whitespace only', send: sa(' \r\n\t '), status: 400 },
  { name: 'truncated JSON', send: sa('{"environmentId": "client-prod-0001", "batch": [{'), status: 400 },
  { name: 'two JSON documents', send: sa('{}{}'), status: 400 },
  { name: 'a byte-order mark before the JSON', send: sa(`\ufeff${JSON.stringify(audienceBody([{ userId: 'hostile-9', value: true }]))}`), status: 400 },
  { name: 'JSON with comments', send: sa('{"environmentId": "client-prod-0001" /* hi */}'), status: 400 },
  { name: 'NaN and Infinity literals', send: sa('{"environmentId": NaN, "batch": [{"userId": Infinity}]}'), status: 400 },
  { name: '100,000 nested arrays', send: sa(deepArray(100_000)), status: 400 },
  { name: '100,000 nested objects', send: sa(deepObject(100_000)), status: 400 },
  { name: 'a member ID nested 100,000 deep', send: sa(saBody((b) => (b[0].userId = MARK)).replace(JSON.stringify(MARK), deepArray(100_000))), status: 400 },
  {
    name: 'nesting 50,000 deep where a response template reads it (example-synced-segment-integration2)',
    send: () => postSync(receiver, 'example-synced-segment-integration2', `{"environmentId": ${deepArray(50_000)}, "contextKind": ${deepObject(50_000)}}`),
    status: 400
  },
  { name: 'environment ID 1e400', send: sa(saBody(() => undefined).replace(`"${PROD_ID}"`, '1e400')), status: 400 },
  { name: 'member ID 1e400', send: sa(saBody((b) => (b[0].userId = MARK)).replace(JSON.stringify(MARK), '1e400')), status: 400 },
  { name: 'member ID -1e999', send: sa(saBody((b) => (b[0].userId = MARK)).replace(JSON.stringify(MARK), '-1e999')), status: 400 },
  { name: 'cohort ID 1e400', send: sa(saBody((b) => (b[0].cohortId = MARK)).replace(JSON.stringify(MARK), '1e400')), status: 400 },
  { name: 'member ID an object', send: sa(saBody((b) => (b[0].userId = { id: 'x' }))), status: 400 },
  { name: 'member ID an array', send: sa(saBody((b) => (b[0].userId = ['x']))), status: 400 },
  { name: 'member ID true', send: sa(saBody((b) => (b[1].userId = true))), status: 400 },
  { name: 'member ID null', send: sa(saBody((b) => (b[1].userId = null))), status: 400 },
  { name: 'member ID empty', send: sa(saBody((b) => (b[1].userId = ''))), status: 400 },
  { name: 'cohort ID an object', send: sa(saBody((b) => (b[1].cohortId = { $gt: '' }))), status: 400 },
  { name: 'environment ID an object', send: sa(saBody(() => undefined, { environmentId: { $ne: null } })), status: 400 },
  { name: 'member ID of 1,025 characters', send: sa(saBody((b) => (b[1].userId = 'x'.repeat(1025)))), status: 400 },
  { name: 'member ID of 513 emoji (1,026 UTF-16 units)', send: sa(saBody((b) => (b[1].userId = '😀'.repeat(513)))), status: 400 },
  { name: 'member ID of 60,000 characters', send: sa(saBody((b) => (b[1].userId = 'x'.repeat(60_000)))), status: 400 },
  { name: 'membership "true" (a string)', send: sa(saBody((b) => (b[1].value = 'true'))), status: 400 },
  { name: 'membership 1', send: sa(saBody((b) => (b[1].value = 1))), status: 400 },
  { name: 'membership missing', send: sa(saBody((b) => delete b[1].value)), status: 400 },
  { name: 'context kind "multi"', send: sa(saBody(() => undefined, { contextKind: 'multi' })), status: 400 },
  { name: 'context kind with a space', send: sa(saBody(() => undefined, { contextKind: 'a b' })), status: 400 },
  { name: 'an unknown environment', send: sa(saBody(() => undefined, { environmentId: 'client-nope-0001' })), status: 400, code: 'unknown_environment' },
  { name: 'empty batch (segment-audiences)', send: sa(JSON.stringify({ environmentId: PROD_ID, batch: [] })), status: 400 },
  { name: 'empty batch (amplitude)', send: () => postSync(receiver, 'amplitude', JSON.stringify({ environmentId: PROD_ID, batch: [] })), status: 400 },
  {
    name: 'empty batch (census-synced-segments)',
    send: () => postSync(receiver, 'census-synced-segments', JSON.stringify({ environment_id: PROD_ID, batch: [] })),
    status: 400
  },
  { name: 'a batch of nulls', send: sa(JSON.stringify({ environmentId: PROD_ID, batch: [null, null] })), status: 400 },
  { name: 'a valid member after a bad one', send: sa(saBody((b) => b.push({ userId: { bad: 1 }, cohortId: 'aud-1', cohortName: 'A', value: true }))), status: 400 },
  {
    name: '__proto__ and constructor keys everywhere around a bad member',
    send: sa(
      `{"__proto__": {"isAdmin": true}, "constructor": {"prototype": {"isAdmin": true}}, "environmentId": "${PROD_ID}", ` +
        '"batch": [{"__proto__": {"value": true}, "userId": "hostile-9", "cohortId": "aud-1", "cohortName": "A"}]}'
    ),
    status: 400
  },
  ...[
    ['truncated two-byte sequence', [0xc3, 0x28]],
    ['a lone continuation byte', [0x80]],
    ['0xFF', [0xff]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]]
  ].map(
    ([what, bytes]): Case => ({
      name: `invalid UTF-8: ${what as string}`,
      send: () => {
        const [head, tail] = saBody((b) => (b[0].userId = MARK)).split(JSON.stringify(MARK))
        return postSync(receiver, SA, Buffer.concat([Buffer.from(`${head}"`), Buffer.from(bytes as number[]), Buffer.from(`"${tail}`)]))
      },
      status: 400
    })
  ),
  { name: 'invalid UTF-8 as the whole body', send: () => postSync(receiver, SA, Buffer.from([0xff, 0xfe, 0xfd])), status: 400 }
]

// ---- wrong types and hidden values at every pointer of every integration ------------------------
const WRONG: Record<string, string[]> = {
  // "\ud800…": an unpaired surrogate, valid JSON that no UTF-8 store can keep apart from another.
  id: ['null', 'true', 'false', '{}', '[]', '""', '1e400', '["x"]', '{"__proto__": "x"}', '"\\ud800"', '"x\\udfff"'],
  // null and "" are not here: as in LaunchDarkly's parser, they mean `user` (§B8).
  contextKind: ['1', '{}', '[]', '"multi"', '"kind"', '"a b"', '"ü"'],
  url: ['1', '{}', '[]', 'true', '"https://example.com/\\udc00"'],
  action: ['null', '1', '{}', '[]', 'true'],
  array: ['null', '{}', '"x"', '1', 'true'],
  membership: ['null', '"true"', '"false"', '1', '0', '{}', '[]']
}

const pointerCases: Case[] = manifests.flatMap((manifest) => {
  const body = validBody(manifest)
  const post = (raw: string) => (): Promise<Response> => postSync(receiver, manifest.key, raw)
  return pointersOf(manifest).flatMap(({ pointer, role }) => {
    const wrong = WRONG[role].map((raw): Case => ({ name: `${manifest.key}: ${pointer} = ${raw}`, send: post(withRaw(body, pointer, raw)), status: 400 }))
    // Values the parser must find: hidden behind an own __proto__ or constructor key, they are missing.
    const required = role === 'id' || role === 'action' || role === 'membership' || (role === 'array' && manifest.mode !== 'addRemove')
    const memberOnly = /\/0\//.test(pointer) && (pointer.endsWith(manifest.parser.memberArrayParser.cohortIdPath ?? '\u0000') || pointer.endsWith(manifest.parser.memberArrayParser.cohortNamePath ?? '\u0000'))
    const requestLevel = [manifest.parser.cohortIdPath, manifest.parser.cohortNamePath].includes(pointer)
    const hidden =
      required && (!memberOnly || requestLevel)
        ? (['__proto__', 'constructor'] as const).map((key): Case => ({ name: `${manifest.key}: ${pointer} behind ${key}`, send: post(hiddenBehind(body, pointer, key)), status: 400 }))
        : []
    return [...wrong, ...hidden]
  })
})

// ---- paths, routes and methods ------------------------------------------------------------------
const validSa = JSON.stringify(audienceBody([{ userId: 'hostile-9', value: true }]))
const authorized = { authorization: TOKENS.writer }
const pathCases: Case[] = [
  ...['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..', '.', '%2E%2E%5C%2E%2E%5Cwindows', 'segment-audiences%2F..', 'segment-audiences%00', '%00', '__proto__', 'constructor', 'hasOwnProperty', 'segment-audiences%20', '%252e%252e'].map(
    (key): Case => ({ name: `integration key ${key}`, send: () => postSync(receiver, key, validSa), status: 404 })
  ),
  { name: 'integration key with bad percent-encoding', send: () => postSync(receiver, '%E0%A4%A', validSa), status: 400 },
  { name: 'dot segments in the path', send: () => postSync(receiver, '../segments/acme/production', validSa), status: 404 },
  { name: 'an integration key of 12,000 characters', send: () => postSync(receiver, 'x'.repeat(12_000), validSa), status: 404 },
  { name: 'a request line over 16 KB', send: () => postSync(receiver, 'x'.repeat(20_000), validSa), status: 431 },
  { name: 'GET /', send: () => receiver.request('GET', '/'), status: 404 },
  { name: 'GET /index.html', send: () => receiver.request('GET', '/index.html'), status: 404 },
  { name: 'GET /../../etc/passwd', send: () => receiver.request('GET', '/../../etc/passwd'), status: 404 },
  { name: 'GET segment-targets', send: () => receiver.request('GET', `/api/v2/segment-targets/${SA}`, { headers: authorized }), status: 404 },
  ...['PUT', 'PATCH', 'DELETE', 'OPTIONS'].map(
    (method): Case => ({
      name: `${method} segment-targets`,
      send: () => receiver.request(method, `/api/v2/segment-targets/${SA}`, { headers: { ...authorized, 'content-type': 'application/json' }, body: validSa }),
      status: 404
    })
  ),
  { name: 'POST to a segment', send: () => receiver.request('POST', '/api/v2/segments/acme/production/segment-audiences-seeded', { headers: authorized, body: '{}' }), status: 404 },
  { name: 'DELETE /healthz', send: () => receiver.request('DELETE', '/healthz'), status: 404 },
  { name: 'GET a path below members', send: () => receiver.request('GET', '/api/v2/segments/acme/production/x/members/y/z', { headers: authorized }), status: 404 },
  { name: 'a members cursor limit of -1', send: () => receiver.request('GET', '/api/v2/segments/acme/production/segment-audiences-seeded/members?limit=-1', { headers: authorized }), status: 400 },
  { name: 'a members limit of 1e400', send: () => receiver.request('GET', '/api/v2/segments/acme/production/segment-audiences-seeded/members?limit=1e400', { headers: authorized }), status: 400 },
  { name: 'a members limit of Infinity', send: () => receiver.request('GET', '/api/v2/segments/acme/production/segment-audiences-seeded/members?limit=Infinity', { headers: authorized }), status: 400 },
  { name: 'a segment list offset of 1e400', send: () => receiver.request('GET', '/api/v2/segments/acme/production?offset=1e400', { headers: authorized }), status: 400 },
  { name: 'a segment list offset of 1e300', send: () => receiver.request('GET', '/api/v2/segments/acme/production?offset=1e300', { headers: authorized }), status: 400 },
  { name: 'a segment list limit of -Infinity', send: () => receiver.request('GET', '/api/v2/segments/acme/production?limit=-Infinity', { headers: authorized }), status: 400 },
  { name: 'a segment list offset of "x"', send: () => receiver.request('GET', '/api/v2/segments/acme/production?offset=x', { headers: authorized }), status: 400 },
  { name: 'a made-up method', send: () => raw(['FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']), status: 400 },
  { name: 'TRACE', send: () => receiver.request('TRACE', '/api/v2/versions', { headers: authorized }), status: 404 },
  { name: 'not HTTP at all', send: () => raw(['\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003 TLS hello\r\n\r\n']), status: 400 },
  { name: 'a 20 KB header', send: () => raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]), status: 431 }
]

// ---- sizes and slow clients (raw sockets) -------------------------------------------------------
function raw(parts: (string | Buffer)[], options: Parameters<typeof rawExchange>[2] = {}): Promise<Response> {
  return rawExchange(receiver.port, parts, options).then(({ response }) => parseRaw(response))
}
const head = (extra: string): string =>
  `POST /api/v2/segment-targets/${SA} HTTP/1.1\r\nHost: x\r\nAuthorization: ${TOKENS.writer}\r\nContent-Type: application/json\r\n${extra}\r\n`
const members = (n: number) => JSON.stringify(audienceBody(Array.from({ length: n }, (_, i) => ({ userId: `big-${i}`, value: true }))))
const overLimit = members(Math.ceil(BODY_LIMIT / 60))

const sizeCases: Case[] = [
  { name: 'Content-Length of 100 MB, no body sent', send: () => raw([head('Content-Length: 104857600\r\nConnection: close\r\n')]), status: 413, code: 'request_too_large' },
  { name: 'a body over the limit with its Content-Length', send: () => postSync(receiver, SA, overLimit), status: 413, code: 'request_too_large' },
  {
    name: 'a chunked body over the limit, without a length',
    send: () => {
      const chunks = overLimit.match(/.{1,4096}/gs) ?? []
      return raw([head('Transfer-Encoding: chunked\r\nConnection: close\r\n'), ...chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`), '0\r\n\r\n'])
    },
    status: 413,
    code: 'request_too_large'
  },
  { name: 'Content-Length not a number', send: () => raw([head('Content-Length: abc\r\nConnection: close\r\n'), '{}']), status: 400 },
  { name: 'Content-Length and chunked together', send: () => raw([head('Content-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n'), '2\r\n{}\r\n0\r\n\r\n']), status: 400 },
  { name: 'a negative Content-Length', send: () => raw([head('Content-Length: -1\r\nConnection: close\r\n'), '{}']), status: 400 },
  { name: 'a bad chunk size', send: () => raw([head('Transfer-Encoding: chunked\r\nConnection: close\r\n'), 'zz\r\n{}\r\n0\r\n\r\n']), status: 400 }
]

/** Slow clients must be answered 408 (JSON) within the request timeout plus the server's sweep interval. */
const SLOW_DEADLINE_MS = REQUEST_TIMEOUT_MS + REQUEST_TIMEOUT_MS / 4 + 1_500
const slowCases: (Case & { minMs: number })[] = [
  { name: 'a connection that sends nothing', send: () => raw([], { giveUpMs: 10_000 }), status: 408, code: 'request_timeout', minMs: 0 },
  { name: 'headers sent, then silence', send: () => raw([`POST /api/v2/segment-targets/${SA} HTTP/1.1\r\nHost: x\r\n`], { giveUpMs: 10_000 }), status: 408, code: 'request_timeout', minMs: 0 },
  {
    name: 'a body that stops halfway',
    send: () => raw([head('Content-Length: 2000\r\n'), validSa.slice(0, 40)], { giveUpMs: 10_000 }),
    status: 408,
    code: 'request_timeout',
    minMs: 0
  },
  {
    name: 'a body trickling one byte every 100 ms',
    send: () => raw([head('Content-Length: 2000\r\n')], { giveUpMs: 10_000, keepWriting: { chunk: ' ', everyMs: 100 } }),
    status: 408,
    code: 'request_timeout',
    minMs: 0
  },
  {
    name: 'headers trickling one byte every 100 ms',
    send: () => raw(['GET /healthz HTTP/1.1\r\n'], { giveUpMs: 10_000, keepWriting: { chunk: 'X', everyMs: 100 } }),
    status: 408,
    code: 'request_timeout',
    minMs: 0
  }
]

beforeAll(async () => {
  receiver = await startReceiver({ config: testConfig({ bodyLimitBytes: BODY_LIMIT }), requestTimeoutMs: REQUEST_TIMEOUT_MS, log: true })
  // Something to protect: every integration's segment, in production and staging.
  for (const manifest of manifests) {
    const response = await postSync(receiver, manifest.key, JSON.stringify(validBody(manifest)))
    expect(response.status).toBeLessThan(300)
  }
  expect((await postSync(receiver, SA, JSON.stringify(audienceBody([{ userId: 's1', value: true }], { environmentId: 'client-staging-0001' })))).status).toBe(204)
})
afterAll(() => receiver.close())

async function expectUnharmed(before: unknown): Promise<void> {
  expect(await readState(receiver)).toEqual(before)
  const health = await receiver.request('GET', '/healthz')
  expect(health.status).toBe(200)
}

describe.each([
  ['bodies', bodyCases],
  ['wrong types and hidden values at every pointer of every integration', pointerCases],
  ['paths, routes and methods', pathCases],
  ['sizes', sizeCases]
] as const)('%s', (_group, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await readState(receiver)
    const response = await c.send()
    seen.push(response)
    expectJsonError(response, c.status, c.code)
    await expectUnharmed(before)
  })
})

describe('slow clients', () => {
  it.each(slowCases.map((c) => [c.name, c] as const))('%s: a JSON 408 within the request timeout', async (_name, c) => {
    const before = await readState(receiver)
    const started = Date.now()
    const response = await c.send()
    const elapsed = Date.now() - started
    seen.push(response)
    expectJsonError(response, c.status, c.code)
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50)
    expect(elapsed).toBeLessThan(SLOW_DEADLINE_MS)
    if (process.env.RELIABILITY_REPORT) console.log(`slow client, ${c.name}: ${response.status} after ${elapsed} ms`)
    await expectUnharmed(before)
  })

  it('answers everyone else while 20 slow clients hold connections', async () => {
    const before = await readState(receiver)
    const slow = Array.from({ length: 20 }, () => raw([head('Content-Length: 2000\r\n'), '{"environmentId"'], { giveUpMs: 10_000 }))
    const started = Date.now()
    const health = await receiver.request('GET', '/healthz')
    expect(health.status).toBe(200)
    expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS)
    for (const response of await Promise.all(slow)) expectJsonError(response, 408, 'request_timeout')
    await expectUnharmed(before)
  })
})

it('a valid request whose response template reads a value nested 50,000 deep is applied and answered 200', async () => {
  const manifest = manifests.find((m) => m.key === 'example-synced-segment-integration2') as Manifest
  const body = JSON.stringify({ ...validBody(manifest), environmentId: MARK }).replace(JSON.stringify(MARK), deepArray(50_000))
  const response = await postSync(receiver, manifest.key, body)
  expect(response.status).toBe(200)
  expect(JSON.parse(response.body)).toMatchObject({ environmentId: '', status: 'success' })
  const check = await receiver.request('GET', `/api/v2/segments/acme/production/${manifest.key}-seeded/contexts/hostile-1`, { headers: authorized })
  expect(JSON.parse(check.body)).toMatchObject({ contextKey: 'hostile-1', included: true })
})

it("a path parameter beyond 16 KiB (longer than Node's header limit allows, so through inject) is a JSON 414", async () => {
  const response = await receiver.app.inject({ method: 'GET', url: `/api/v2/segments/acme/production/${'x'.repeat(17_000)}`, headers: authorized })
  expect(response.statusCode).toBe(414)
  expect(response.json()).toEqual({ code: 'uri_too_long', message: 'a path parameter is longer than 16384 characters', id: expect.any(String) })
})

it('a big integer ID is accepted as the decimal string of the number JSON makes of it (documented, see README)', async () => {
  const body = saBody((b) => {
    b.splice(1)
    b[0].userId = MARK
  }).replace(JSON.stringify(MARK), '12345678901234567891')
  expect((await postSync(receiver, SA, body)).status).toBe(204)
  const check = await receiver.request('GET', '/api/v2/segments/acme/production/segment-audiences-aud-1/contexts/12345678901234567000', { headers: authorized })
  expect(JSON.parse(check.body)).toMatchObject({ contextKey: '12345678901234567000', included: true })
})

it('scanned every response: JSON, no HTML, stack frame, file path or token; the log holds no token', () => {
  const total = bodyCases.length + pointerCases.length + pathCases.length + sizeCases.length + slowCases.length
  expect(seen.length).toBe(total)
  expect(total).toBeGreaterThan(400)
  for (const response of seen) expect(leaksIn(response.body)).toEqual([])
  const log = receiver.log()
  for (const token of Object.values(TOKENS)) expect(log).not.toContain(token)
  // No request of the catalogue was the receiver's fault.
  expect(log).not.toMatch(/"level":50/)
})
