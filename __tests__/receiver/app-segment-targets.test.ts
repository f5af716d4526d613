import type { FastifyInstance } from 'fastify'
import type { SegmentStore } from '../../src/store/types'
import {
  audienceBody,
  expectJsonError,
  get,
  makeApp,
  OTHER_ID,
  PROD_ID,
  snapshot,
  STAGING,
  STAGING_ID,
  sync,
  testConfig,
  type TestApp,
  TOKENS,
  writeIntegrations
} from './app-helpers'

const SEGMENTS = '/api/v2/segments/acme/production'

/** A boolean-mode capability like segment-audiences, with a custom response body. */
const customResponse = {
  requestParser: {
    environmentIdPath: '/environmentId',
    contextKindPath: '/contextKind',
    cohortIdPath: '/batch/0/cohortId',
    cohortNamePath: '/batch/0/cohortName',
    memberArrayPath: '/batch',
    memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '/value', cohortIdPath: '/cohortId', cohortNamePath: '/cohortName' }
  },
  jsonResponseBody:
    '{ "note": "{{requestBody.note}}", "projectKey": "{{projectKey}}", "envKey": "{{environmentKey}}", "segmentKey": "{{segmentKey}}", ' +
    '"segmentUrl": "{{segmentUrl}}", {{#if errorMessage}}"status": "failure", "error": {"message": "{{{errorMessage}}}", "code": {{statusCode}} }' +
    '{{else}}"status": "success", "code": {{statusCode}}{{/if}} }'
}
/** Compiles as Handlebars, but what it renders is not JSON. */
const brokenResponse = { ...customResponse, jsonResponseBody: '{ "status": {{statusCode}}, "segment": {{segmentKey}} }' }

let t: TestApp
let app: FastifyInstance
let store: SegmentStore
const integrationsDir = writeIntegrations({ 'custom-response': customResponse, 'broken-response': brokenResponse })

beforeEach(() => {
  t = makeApp({ integrationsDir })
  app = t.app
  store = t.store
})
afterEach(() => t.close())

async function included(segmentKey: string, contextKey: string): Promise<boolean> {
  const response = await get(app, `${SEGMENTS}/${segmentKey}/contexts/${encodeURIComponent(contextKey)}`)
  expect(response.statusCode).toBe(200)
  return response.json<{ included: boolean }>().included
}

describe('success', () => {
  it('answers 204 without a body and applies the change', async () => {
    const response = await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }, { userId: 'u2', value: true }]))
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    const segment = await get(app, `${SEGMENTS}/segment-audiences-aud-1`)
    expect(segment.json()).toMatchObject({
      key: 'segment-audiences-aud-1',
      name: 'Audience aud-1',
      unbounded: true,
      unboundedContextKind: 'user',
      generation: 1,
      _external: 'segment-audiences',
      includedCount: 2
    })
  })

  it('removes a member with value: false (false is a value, not absence)', async () => {
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }, { userId: 'u2', value: true }]))
    const response = await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: false }]))
    expect(response.statusCode).toBe(204)
    expect(await included('segment-audiences-aud-1', 'u1')).toBe(false)
    expect(await included('segment-audiences-aud-1', 'u2')).toBe(true)
    expect((await get(app, `${SEGMENTS}/segment-audiences-aud-1`)).json()).toMatchObject({ includedCount: 1 })
  })

  it('accepts the singular path, a case-insensitive integration key, Bearer tokens and a UTF-8 charset', async () => {
    const body = audienceBody([{ userId: 'u1', value: true }])
    expect((await sync(app, 'segment-audiences', body, { singular: true })).statusCode).toBe(204)
    expect((await sync(app, 'Segment-Audiences', body)).statusCode).toBe(204)
    expect((await sync(app, 'segment-audiences', body, { token: `Bearer ${TOKENS.writer}` })).statusCode).toBe(204)
    expect((await sync(app, 'segment-audiences', body, { token: `bearer   ${TOKENS.writer}` })).statusCode).toBe(204)
    expect((await sync(app, 'segment-audiences', body, { contentType: 'application/json; charset=UTF-8' })).statusCode).toBe(204)
    expect(await included('segment-audiences-aud-1', 'u1')).toBe(true)
  })

  it('answers 200 with the rendered jsonResponseBody, strings JSON-escaped', async () => {
    const note = 'he said "hi"\nand left \\ a backslash </script>'
    const response = await sync(app, 'custom-response', { ...audienceBody([{ userId: 'u1', value: true }]), note })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(response.json()).toEqual({
      note,
      projectKey: 'acme',
      envKey: 'production',
      segmentKey: 'custom-response-aud-1',
      segmentUrl: 'http://localhost:80/console/acme/production/segments/custom-response-aud-1',
      status: 'success',
      code: 200
    })
    expect(await included('custom-response-aud-1', 'u1')).toBe(true)
  })

  it('uses the configured publicUrl in segmentUrl', async () => {
    const withUrl = makeApp({ integrationsDir, config: testConfig({ publicUrl: 'https://segments.example.com/' }) })
    try {
      const response = await sync(withUrl.app, 'custom-response', audienceBody([{ userId: 'u1', value: true }]))
      expect(response.json()).toMatchObject({ segmentUrl: 'https://segments.example.com/console/acme/production/segments/custom-response-aud-1' })
    } finally {
      await withUrl.close()
    }
  })

  it('lets a token without createSegment update an existing segment', async () => {
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
    const response = await sync(app, 'segment-audiences', audienceBody([{ userId: 'u2', value: true }]), { token: TOKENS.updater })
    expect(response.statusCode).toBe(204)
    expect(await included('segment-audiences-aud-1', 'u2')).toBe(true)
  })

  it('applies several cohorts of one request, and a later sync renames the segment', async () => {
    const body = audienceBody([
      { userId: 'u1', cohortId: 'a', value: true },
      { userId: 'u2', cohortId: 'b', value: true }
    ])
    expect((await sync(app, 'segment-audiences', body)).statusCode).toBe(204)
    expect(await included('segment-audiences-a', 'u1')).toBe(true)
    expect(await included('segment-audiences-b', 'u2')).toBe(true)
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u3', cohortId: 'a', value: true }], { cohortName: 'Renamed' }))
    expect((await get(app, `${SEGMENTS}/segment-audiences-a`)).json()).toMatchObject({ name: 'Renamed', includedCount: 2 })
  })
})

describe('errors', () => {
  it('400: malformed JSON gets a JSON error, not an HTML page', async () => {
    const response = await sync(app, 'segment-audiences', undefined, { raw: '{"environmentId": "x", ' })
    expect(expectJsonError(response, 400, 'invalid_request').message).toMatch(/not valid JSON/)
  })

  it('400: invalid UTF-8 and an empty body', async () => {
    const invalidUtf8 = Buffer.concat([Buffer.from('{"environmentId": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
    expect(expectJsonError(await sync(app, 'segment-audiences', undefined, { raw: invalidUtf8 }), 400).message).toMatch(/UTF-8/)
    expect(expectJsonError(await sync(app, 'segment-audiences', undefined, { raw: '' }), 400).message).toMatch(/empty/)
  })

  it('400: a body the parser rejects names the pointer', async () => {
    const body = audienceBody([{ userId: 'u1', value: true }]) as { batch: Record<string, unknown>[] }
    body.batch[0].value = 'false'
    expect(expectJsonError(await sync(app, 'segment-audiences', body), 400).message).toMatch(/\/batch\/0\/value/)
    expect(expectJsonError(await sync(app, 'segment-audiences', null), 400).message).toMatch(/JSON object/)
  })

  it('400: an unknown client-side ID', async () => {
    const response = await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }], { environmentId: 'nope' }))
    expect(expectJsonError(response, 400, 'unknown_environment').message).toMatch(/"nope"/)
  })

  it('403: missing, unknown and malformed tokens', async () => {
    const body = audienceBody([{ userId: 'u1', value: true }])
    for (const token of [null, 'wrong-token-0001', `${TOKENS.writer}x`, `Basic ${TOKENS.writer}`, 'Bearer', '']) {
      const response = await sync(app, 'segment-audiences', body, { token })
      expect(expectJsonError(response, 403).message).not.toContain(TOKENS.writer)
    }
  })

  it('403: a token that may not write the environment, or only reads', async () => {
    const body = audienceBody([{ userId: 'u1', value: true }])
    expectJsonError(await sync(app, 'segment-audiences', body, { token: TOKENS.stagingWriter }), 403)
    expectJsonError(await sync(app, 'segment-audiences', body, { token: TOKENS.reader }), 403)
    expectJsonError(await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }], { environmentId: OTHER_ID }), { token: TOKENS.updater }), 403)
    expect((await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }], { environmentId: STAGING_ID }), { token: TOKENS.stagingWriter })).statusCode).toBe(204)
  })

  it('403: a new segment needs createSegment', async () => {
    const response = await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]), { token: TOKENS.updater })
    expectJsonError(response, 403)
    expect((await get(app, `${SEGMENTS}/segment-audiences-aud-1`)).statusCode).toBe(404)
  })

  it('404: an unknown integration, also for path tricks', async () => {
    expectJsonError(await sync(app, 'no-such-integration', {}), 404, 'unknown_integration')
    expectJsonError(await sync(app, '..%2F..%2Fetc%2Fpasswd', {}), 404)
    expectJsonError(await sync(app, '__proto__', {}), 404)
  })

  it('409: a cohort whose segment has another context kind', async () => {
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
    const response = await sync(app, 'segment-audiences', audienceBody([{ userId: 'o1', value: true }], { contextKind: 'organization' }))
    expectJsonError(response, 409, 'conflict')
  })

  it('413: a body over the limit', async () => {
    const small = makeApp({ config: testConfig({ bodyLimitBytes: 1024 }) })
    try {
      const members = Array.from({ length: 50 }, (_, i) => ({ userId: `user-${i}`, value: true }))
      const response = await sync(small.app, 'segment-audiences', audienceBody(members))
      expectJsonError(response, 413, 'request_too_large')
      expect((await sync(small.app, 'segment-audiences', audienceBody(members.slice(0, 2)))).statusCode).toBe(204)
    } finally {
      await small.close()
    }
  })

  it('415: a body that is not declared as JSON', async () => {
    const body = audienceBody([{ userId: 'u1', value: true }])
    for (const contentType of ['text/plain', null, 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/jsonp']) {
      expectJsonError(await sync(app, 'segment-audiences', body, { contentType }), 415, 'unsupported_media_type')
    }
  })

  it('500: a template that renders invalid JSON names the integration', async () => {
    const response = await sync(app, 'broken-response', audienceBody([{ userId: 'u1', value: true }]))
    expect(expectJsonError(response, 500).message).toMatch(/broken-response/)
  })

  it('renders errors with the jsonResponseBody, whatever quotes and newlines the message holds', async () => {
    const environmentId = 'he said "hi"\nand \\ left'
    const response = await sync(app, 'custom-response', audienceBody([{ userId: 'u1', value: true }], { environmentId }))
    expect(response.statusCode).toBe(400)
    const body = response.json<{ status: string; error: { message: string; code: number }; projectKey: string }>()
    expect(body).toMatchObject({ status: 'failure', error: { code: 400 }, projectKey: '' })
    expect(body.error.message).toContain(JSON.stringify(environmentId))

    const badJson = await sync(app, 'custom-response', undefined, { raw: '{"a": [1, 2' })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json()).toMatchObject({ status: 'failure', error: { code: 400 } })

    const badToken = await sync(app, 'custom-response', audienceBody([{ userId: 'u1', value: true }]), { token: 'wrong-token-0001' })
    expect(badToken.statusCode).toBe(403)
    expect(badToken.json()).toMatchObject({ status: 'failure', error: { code: 403 } })

    await sync(app, 'custom-response', audienceBody([{ userId: 'u1', value: true }]))
    const conflict = await sync(app, 'custom-response', audienceBody([{ userId: 'u1', value: true }], { contextKind: 'device' }))
    expect(conflict.statusCode).toBe(409)
    expect(conflict.json()).toMatchObject({
      status: 'failure',
      error: { code: 409 },
      projectKey: 'acme',
      envKey: 'production',
      segmentKey: 'custom-response-aud-1'
    })
  })

  it('checks in the order of §B3', async () => {
    const valid = audienceBody([{ userId: 'u1', value: true }])
    // token before integration
    expectJsonError(await sync(app, 'no-such-integration', valid, { token: 'wrong-token-0001' }), 403)
    // integration before content type
    expectJsonError(await sync(app, 'no-such-integration', valid, { contentType: 'text/plain' }), 404)
    // content type before JSON
    expectJsonError(await sync(app, 'segment-audiences', undefined, { raw: 'not json', contentType: 'text/plain' }), 415)
    // parse before environment
    expectJsonError(await sync(app, 'segment-audiences', { environmentId: 'nope', batch: 'x' }), 400, 'invalid_request')
    // environment before scope
    expectJsonError(await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }], { environmentId: 'nope' }), { token: TOKENS.reader }), 400, 'unknown_environment')
    const small = makeApp({ config: testConfig({ bodyLimitBytes: 64 }) })
    try {
      // content type before size, size before JSON
      expectJsonError(await sync(small.app, 'segment-audiences', undefined, { raw: 'x'.repeat(100), contentType: 'text/plain' }), 415)
      expectJsonError(await sync(small.app, 'segment-audiences', undefined, { raw: 'x'.repeat(100) }), 413)
    } finally {
      await small.close()
    }
  })
})

describe('a rejected request changes nothing', () => {
  async function seed(): Promise<void> {
    const response = await sync(
      app,
      'segment-audiences',
      audienceBody([
        { userId: 'u1', cohortId: 'a', value: true },
        { userId: 'u2', cohortId: 'b', value: true }
      ])
    )
    expect(response.statusCode).toBe(204)
  }

  // Each would otherwise add u9 to a and create cohort c.
  const change = (overrides: { environmentId?: string; contextKind?: string } = {}): Record<string, unknown> =>
    audienceBody(
      [
        { userId: 'u9', cohortId: 'a', value: true },
        { userId: 'u9', cohortId: 'c', value: true }
      ],
      overrides
    )

  const cases: [string, () => Promise<number>][] = [
    ['403 token', async () => (await sync(app, 'segment-audiences', change(), { token: 'wrong-token-0001' })).statusCode],
    ['403 scope', async () => (await sync(app, 'segment-audiences', change(), { token: TOKENS.stagingWriter })).statusCode],
    // u9 → a alone would be allowed; cohort c needs createSegment, so the whole request is refused.
    ['403 createSegment', async () => (await sync(app, 'segment-audiences', change(), { token: TOKENS.updater })).statusCode],
    ['404 integration', async () => (await sync(app, 'nope', change())).statusCode],
    ['415 content type', async () => (await sync(app, 'segment-audiences', change(), { contentType: 'text/plain' })).statusCode],
    ['400 JSON', async () => (await sync(app, 'segment-audiences', undefined, { raw: JSON.stringify(change()).slice(0, -1) })).statusCode],
    [
      '400 parse',
      async () => {
        const body = change() as { batch: Record<string, unknown>[] }
        body.batch.push({ userId: 'u10', cohortId: 'a', cohortName: 'A', value: null })
        return (await sync(app, 'segment-audiences', body)).statusCode
      }
    ],
    ['400 environment', async () => (await sync(app, 'segment-audiences', change({ environmentId: 'nope' }))).statusCode],
    // Cohort c would be new (fine), cohort a exists as `user`: the conflict refuses both.
    ['409 conflict', async () => (await sync(app, 'segment-audiences', change({ contextKind: 'organization' }))).statusCode],
    ['500 template', async () => (await sync(app, 'broken-response', change())).statusCode]
  ]

  it.each(cases)('%s', async (name, send) => {
    await seed()
    const before = await snapshot(store)
    const status = await send()
    expect(status).toBe(Number(name.slice(0, 3)))
    expect(await snapshot(store)).toEqual(before)
  })

  it('413', async () => {
    const small = makeApp({ config: testConfig({ bodyLimitBytes: 300 }) })
    try {
      expect((await sync(small.app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))).statusCode).toBe(204)
      const before = await snapshot(small.store)
      const many = audienceBody(Array.from({ length: 20 }, (_, i) => ({ userId: `user-${i}`, value: true })))
      expect((await sync(small.app, 'segment-audiences', many)).statusCode).toBe(413)
      expect(await snapshot(small.store)).toEqual(before)
    } finally {
      await small.close()
    }
  })
})

describe('rate limit per token', () => {
  const NOW = 1_700_000_012_345
  const WINDOW = 60_000
  let limited: TestApp
  let now = NOW

  beforeEach(async () => {
    now = NOW
    jest.spyOn(Date, 'now').mockImplementation(() => now)
    limited = makeApp({ config: testConfig({ rateLimit: { max: 2, windowMs: WINDOW } }) })
  })
  afterEach(async () => {
    jest.restoreAllMocks()
    await limited.close()
  })

  it('answers 429 with X-Ratelimit-Reset (epoch ms) and Retry-After (s), applies nothing, and lets the next window through', async () => {
    const body = (userId: string) => audienceBody([{ userId, value: true }])
    expect((await sync(limited.app, 'segment-audiences', body('u1'))).statusCode).toBe(204)
    expect((await sync(limited.app, 'segment-audiences', body('u2'))).statusCode).toBe(204)
    const before = await snapshot(limited.store)

    const response = await sync(limited.app, 'segment-audiences', body('u3'))
    expectJsonError(response, 429, 'rate_limited')
    const windowEnd = NOW - (NOW % WINDOW) + WINDOW
    expect(response.headers['x-ratelimit-reset']).toBe(String(windowEnd))
    expect(response.headers['retry-after']).toBe(String(Math.ceil((windowEnd - NOW) / 1000)))
    expect(await snapshot(limited.store)).toEqual(before)

    // Per token: another token still has its own budget, reads count too.
    expect((await get(limited.app, `${SEGMENTS}/segment-audiences-aud-1`, TOKENS.reader)).statusCode).toBe(200)
    expect((await get(limited.app, `${SEGMENTS}/segment-audiences-aud-1`, TOKENS.writer)).statusCode).toBe(429)

    now = windowEnd
    expect((await sync(limited.app, 'segment-audiences', body('u3'))).statusCode).toBe(204)
  })

  it('does not count requests with an invalid token', async () => {
    for (let i = 0; i < 5; i++) expect((await sync(limited.app, 'segment-audiences', {}, { token: 'wrong-token-0001' })).statusCode).toBe(403)
    expect((await sync(limited.app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))).statusCode).toBe(204)
  })
})

describe('internal errors', () => {
  it('500 without details; the details stay out of the response', async () => {
    const failing = makeApp({
      wrapStore: (s) =>
        Object.assign(Object.create(s) as SegmentStore, {
          apply: () => Promise.reject(new Error('disk /secret/path exploded'))
        })
    })
    try {
      const response = await sync(failing.app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
      expect(expectJsonError(response, 500, 'internal_error').message).toBe('internal error')
      expect(response.body).not.toContain('secret')
    } finally {
      await failing.close()
    }
  })
})

it('keeps the state of other environments apart', async () => {
  await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
  await sync(app, 'segment-audiences', audienceBody([{ userId: 'u2', value: true }], { environmentId: STAGING_ID }))
  expect(await included('segment-audiences-aud-1', 'u1')).toBe(true)
  expect(await included('segment-audiences-aud-1', 'u2')).toBe(false)
  expect(await store.isIncluded(STAGING, 'segment-audiences-aud-1', 'u2')).toBe(true)
  expect(await store.isIncluded(STAGING, 'segment-audiences-aud-1', 'u1')).toBe(false)
})

describe('hostile input', () => {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
  const cases: [string, string][] = [
    ['JSON null', 'null'],
    ['JSON array', '[]'],
    ['JSON string', '"hello"'],
    ['deep nesting', deep],
    ['a huge number as an ID', `{"environmentId": 1e400, "batch": []}`],
    ['an object as a member ID', JSON.stringify(audienceBody([{ userId: 'x', value: true }])).replace('"userId":"x"', '"userId":{"a":1}')],
    ['an over-long member ID', JSON.stringify(audienceBody([{ userId: 'x'.repeat(1025), value: true }]))],
    ['a member that is not an object', JSON.stringify({ environmentId: PROD_ID, batch: [42] })],
    ['a batch that is an object', JSON.stringify({ environmentId: PROD_ID, batch: { 0: { userId: 'x', cohortId: 'a', cohortName: 'A', value: true } } })]
  ]

  it.each(cases)('%s: a JSON 400, nothing changed, the receiver still answers', async (_name, raw) => {
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'seed', value: true }]))
    const before = await snapshot(store)
    expectJsonError(await sync(app, 'segment-audiences', undefined, { raw }), 400)
    expect(await snapshot(store)).toEqual(before)
    expect((await get(app, '/healthz', null)).statusCode).toBe(200)
  })

  it('treats __proto__ and constructor as ordinary keys and IDs', async () => {
    const raw =
      `{"__proto__": {"environmentId": "evil"}, "constructor": {"prototype": 1}, "environmentId": ${JSON.stringify(PROD_ID)}, ` +
      '"batch": [{"userId": "__proto__", "cohortId": "constructor", "cohortName": "__proto__", "value": true}]}'
    expect((await sync(app, 'segment-audiences', undefined, { raw })).statusCode).toBe(204)
    expect(await included('segment-audiences-constructor', '__proto__')).toBe(true)
    expect(({} as Record<string, unknown>).environmentId).toBeUndefined()
  })
})
