/**
 * Security over real sockets: token scopes (action × environment) on every route for every token,
 * raw and `Bearer`; a per-token rate limit under concurrency whose refused requests apply nothing;
 * tokens compared in constant time and never written to the log; no stack trace or HTML in any
 * answer.
 */
import crypto from 'node:crypto'
import type { SegmentStore } from '../../src/store/types'
import { TokenAuthority } from '../../src/receiver/auth'
import { openSqliteStore } from '../../src/store/sqlite'
import {
  ALL_TOKENS,
  audienceBody,
  leaksIn,
  type LiveReceiver,
  OTHER_ID,
  postSync,
  PROD_ID,
  rawExchange,
  readState,
  type Response,
  STAGING_ID,
  startReceiver,
  tempDir,
  testConfig,
  TOKENS
} from './helpers'

jest.setTimeout(60_000)

type Action = 'createSegment' | 'updateIncluded' | 'updateExcluded' | 'viewProject' | 'deleteSegment'
interface TokenScope {
  name: string
  token: string
  actions: Action[] | '*'
  environments: string[] | '*'
}

// The model: what each configured token may do, read from the configuration itself.
const CONFIGURED = (testConfig().tokens as TokenScope[]).map((t) => t)
const allows = (scope: TokenScope | undefined, action: Action, env: string): boolean =>
  scope !== undefined && (scope.actions === '*' || scope.actions.includes(action)) && (scope.environments === '*' || scope.environments.includes(env))

interface Route {
  name: string
  /** What the token needs (all of it, in `env`); none: public. */
  needs: Action[]
  env: string
  ok: number
  send: (receiver: LiveReceiver, authorization: string | undefined, n: number) => Promise<Response>
  /** Re-create what a successful call removed. */
  mutates?: boolean
}

const SEG = '/api/v2/segments'
const headersWith = (authorization: string | undefined): Record<string, string> => (authorization === undefined ? {} : { authorization })
const get = (path: string) => (r: LiveReceiver, authorization: string | undefined) => r.request('GET', path, { headers: headersWith(authorization) })
const syncTo = (environmentId: string, cohortId: (n: number) => string) => (r: LiveReceiver, authorization: string | undefined, n: number) =>
  r.request('POST', '/api/v2/segment-targets/segment-audiences', {
    headers: { ...headersWith(authorization), 'content-type': 'application/json' },
    body: JSON.stringify(audienceBody([{ userId: `scope-${n}`, cohortId: cohortId(n), value: true }], { environmentId }))
  })

const targets = (collection: string, body: object) => (r: LiveReceiver, authorization: string | undefined) =>
  r.request('POST', `${SEG}/acme/production/segment-audiences-seeded/${collection}`, {
    headers: { ...headersWith(authorization), 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })

const ROUTES: Route[] = [
  { name: 'POST segment-targets, production, existing segment', needs: ['updateIncluded'], env: 'acme/production', ok: 204, send: syncTo(PROD_ID, () => 'seeded'), mutates: true },
  { name: 'POST segment-targets, production, new segment', needs: ['updateIncluded', 'createSegment'], env: 'acme/production', ok: 204, send: syncTo(PROD_ID, (n) => `new-${n}`), mutates: true },
  { name: 'POST segment-targets, staging, existing segment', needs: ['updateIncluded'], env: 'acme/staging', ok: 204, send: syncTo(STAGING_ID, () => 'seeded'), mutates: true },
  { name: 'POST segment-targets, other/test, existing segment', needs: ['updateIncluded'], env: 'other/test', ok: 204, send: syncTo(OTHER_ID, () => 'seeded'), mutates: true },
  { name: 'GET /api/v2/versions', needs: [], env: '', ok: 200, send: get('/api/v2/versions') },
  { name: 'GET segments of production', needs: ['viewProject'], env: 'acme/production', ok: 200, send: get(`${SEG}/acme/production`) },
  { name: 'GET segments of staging', needs: ['viewProject'], env: 'acme/staging', ok: 200, send: get(`${SEG}/acme/staging`) },
  { name: 'GET segments of other/test', needs: ['viewProject'], env: 'other/test', ok: 200, send: get(`${SEG}/other/test`) },
  { name: 'GET a segment', needs: ['viewProject'], env: 'acme/production', ok: 200, send: get(`${SEG}/acme/production/segment-audiences-seeded`) },
  { name: 'GET a context', needs: ['viewProject'], env: 'acme/production', ok: 200, send: get(`${SEG}/acme/production/segment-audiences-seeded/contexts/seed`) },
  { name: 'GET members', needs: ['viewProject'], env: 'acme/production', ok: 200, send: get(`${SEG}/acme/production/segment-audiences-seeded/members`) },
  { name: 'GET a staging segment', needs: ['viewProject'], env: 'acme/staging', ok: 200, send: get(`${SEG}/acme/staging/segment-audiences-seeded`) },
  { name: 'POST contexts, included', needs: ['updateIncluded'], env: 'acme/production', ok: 204, send: targets('contexts', { included: { add: ['t1'] } }), mutates: true },
  { name: 'POST contexts, excluded', needs: ['updateExcluded'], env: 'acme/production', ok: 204, send: targets('contexts', { excluded: { add: ['t1'] } }), mutates: true },
  {
    name: 'POST users, both lists',
    needs: ['updateIncluded', 'updateExcluded'],
    env: 'acme/production',
    ok: 204,
    send: targets('users', { included: { remove: ['t1'] }, excluded: { remove: ['t1'] } }),
    mutates: true
  },
  {
    name: 'DELETE a production segment',
    needs: ['deleteSegment'],
    env: 'acme/production',
    ok: 204,
    send: (r, authorization) => r.request('DELETE', `${SEG}/acme/production/segment-audiences-doomed`, { headers: headersWith(authorization) }),
    mutates: true
  },
  {
    name: 'DELETE a staging segment',
    needs: ['deleteSegment'],
    env: 'acme/staging',
    ok: 204,
    send: (r, authorization) => r.request('DELETE', `${SEG}/acme/staging/segment-audiences-doomed`, { headers: headersWith(authorization) }),
    mutates: true
  }
]

/** Public routes: answered alike with any token or none. */
const PUBLIC: Route[] = [
  { name: 'GET /sdk/goals/:clientId', needs: [], env: '', ok: 200, send: get(`/sdk/goals/${PROD_ID}`) },
  { name: 'GET /healthz', needs: [], env: '', ok: 200, send: get('/healthz') }
]

const PRESENTED: { label: string; authorization: string | undefined; scope: TokenScope | undefined }[] = [
  { label: 'no token', authorization: undefined, scope: undefined },
  { label: 'an unknown token', authorization: 'api-not-a-token-0001', scope: undefined },
  { label: 'Bearer with an unknown token', authorization: 'Bearer api-not-a-token-0001', scope: undefined },
  { label: 'a known token with a suffix', authorization: `${TOKENS.writer}x`, scope: undefined },
  { label: 'a known token under Basic', authorization: `Basic ${TOKENS.writer}`, scope: undefined },
  { label: 'Bearer alone', authorization: 'Bearer', scope: undefined },
  ...CONFIGURED.flatMap((scope) => [
    { label: scope.name, authorization: scope.token, scope },
    { label: `Bearer ${scope.name}`, authorization: `Bearer ${scope.token}`, scope },
    { label: `bearer ${scope.name} (lower case, extra spaces)`, authorization: `bearer   ${scope.token}`, scope }
  ])
]

describe('token scopes: every route × every token', () => {
  let receiver: LiveReceiver
  const seen: Response[] = []
  let n = 0

  const seed = async (environmentId: string, cohortId: string): Promise<void> => {
    const response = await postSync(receiver, 'segment-audiences', JSON.stringify(audienceBody([{ userId: 'seed', cohortId, value: true }], { environmentId })))
    expect(response.status).toBe(204)
  }

  beforeAll(async () => {
    receiver = await startReceiver()
    for (const env of [PROD_ID, STAGING_ID, OTHER_ID]) for (const cohort of ['seeded', 'doomed']) await seed(env, cohort)
  })
  afterAll(() => receiver.close())

  const table = [...ROUTES, ...PUBLIC].flatMap((route) => PRESENTED.map((presented) => [route.name, presented.label, route, presented] as const))

  it.each(table)('%s with %s', async (_route, _token, route, presented) => {
    const isPublic = PUBLIC.includes(route)
    const permitted = isPublic || (presented.scope !== undefined && route.needs.every((action) => allows(presented.scope, action, route.env)))
    const before = route.mutates ? await readState(receiver) : undefined
    const response = await route.send(receiver, presented.authorization, n++)
    seen.push(response)
    expect(leaksIn(response.body)).toEqual([])
    if (permitted) {
      expect([response.status, response.body.slice(0, 200)]).toEqual([route.ok, response.body.slice(0, 200)])
      // Put back what a permitted DELETE removed, for the next token.
      if (route.name.startsWith('DELETE')) await seed(route.env === 'acme/staging' ? STAGING_ID : PROD_ID, 'doomed')
    } else {
      expect(response.status).toBe(403)
      expect(response.headers['content-type']).toMatch(/^application\/json/)
      const body = JSON.parse(response.body) as { code: string; message: string }
      expect(body.code).toMatch(/^(unauthorized|forbidden)$/)
      if (before !== undefined) expect(await readState(receiver)).toEqual(before)
    }
  })

  it('covered every route with every token, and no answer leaked a token, a stack or HTML', () => {
    expect(seen.length).toBe(table.length)
    expect(table.length).toBe(19 * PRESENTED.length)
    for (const response of seen) expect(leaksIn(response.body)).toEqual([])
  })
})

describe('rate limit per token, under concurrency', () => {
  const WINDOW = 60_000
  const MAX = 5
  // Fixed clock in the middle of a window: the window cannot roll over during the test.
  const NOW = 1_800_000_000_000 - (1_800_000_000_000 % WINDOW) + 12_345
  let receiver: LiveReceiver

  beforeAll(async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => NOW)
    receiver = await startReceiver({ config: testConfig({ rateLimit: { max: MAX, windowMs: WINDOW } }) })
  })
  afterAll(async () => {
    await receiver.close()
    jest.restoreAllMocks()
  })

  it('lets exactly max requests of 20 concurrent ones through, applies only those, and tells when to come back', async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postSync(receiver, 'segment-audiences', JSON.stringify(audienceBody([{ userId: `burst-${i}`, cohortId: 'burst', value: true }])))
      )
    )
    const accepted = responses.flatMap((r, i) => (r.status === 204 ? [`burst-${i}`] : []))
    expect(accepted).toHaveLength(MAX)
    for (const response of responses.filter((r) => r.status !== 204)) {
      expect(response.status).toBe(429)
      expect(JSON.parse(response.body)).toMatchObject({ code: 'rate_limited' })
      const reset = Number(response.headers['x-ratelimit-reset'])
      // Epoch milliseconds: the end of the current window, at most one window from now.
      expect(reset).toBe(NOW - (NOW % WINDOW) + WINDOW)
      expect(reset - NOW).toBeGreaterThan(0)
      expect(reset - NOW).toBeLessThanOrEqual(WINDOW)
      expect(Number(response.headers['retry-after'])).toBe(Math.ceil((reset - NOW) / 1000))
    }
    // Only the accepted ones were applied: read with another token (its own budget).
    const members = await receiver.request('GET', '/api/v2/segments/acme/production/segment-audiences-burst/members', { headers: { authorization: TOKENS.reader } })
    expect(JSON.parse(members.body)).toMatchObject({ totalCount: MAX })
    expect((JSON.parse(members.body) as { items: string[] }).items.sort()).toEqual(accepted.sort())
  })

  it('refuses a limited token before reading its body, on every route it may use', async () => {
    expect((await postSync(receiver, 'segment-audiences', 'not json')).status).toBe(429)
    expect((await receiver.request('GET', '/api/v2/versions', { headers: { authorization: TOKENS.writer } })).status).toBe(429)
    expect((await receiver.request('GET', '/api/v2/segments/acme/production', { headers: { authorization: `Bearer ${TOKENS.writer}` } })).status).toBe(429)
    expect((await receiver.request('DELETE', '/api/v2/segments/acme/production/segment-audiences-burst', { headers: { authorization: TOKENS.writer } })).status).toBe(429)
    // An unknown token is a 403, not counted against anyone; public routes are not limited.
    expect((await postSync(receiver, 'segment-audiences', '{}', { authorization: 'api-not-a-token-0001' })).status).toBe(403)
    expect((await receiver.request('GET', '/healthz')).status).toBe(200)
  })
})

describe('tokens', () => {
  it('are compared in constant time: every lookup compares fixed-length digests against every token', () => {
    const authority = new TokenAuthority(CONFIGURED.map(({ name, token, actions, environments }) => ({ name, token, actions, environments })))
    const spy = jest.spyOn(crypto, 'timingSafeEqual')
    try {
      const presented = [TOKENS.writer, TOKENS.deleter, `Bearer ${TOKENS.reader}`, 'x', 'y'.repeat(10_000), `${TOKENS.writer.slice(0, -1)}X`]
      for (const header of presented) {
        spy.mockClear()
        authority.lookup(header)
        // One comparison per configured token, whether the first matches, the last, or none.
        expect(spy).toHaveBeenCalledTimes(CONFIGURED.length)
        for (const [a, b] of spy.mock.calls) expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32])
      }
    } finally {
      spy.mockRestore()
    }
  })

  it('never reach the log: good, bad and Bearer tokens, through errors of every kind', async () => {
    const dir = tempDir('reliability-log-')
    const sqlite = openSqliteStore({ path: `${dir}/segments.db` })
    let failApply = false
    const store = Object.assign(Object.create(sqlite) as SegmentStore, {
      apply: (...args: Parameters<SegmentStore['apply']>) => (failApply ? Promise.reject(new Error(`apply failed for ${TOKENS.writer}`)) : sqlite.apply(...args))
    })
    const receiver = await startReceiver({ log: true, store, requestTimeoutMs: 500 })
    const guess = 'api-guessed-token-0001'
    try {
      const body = JSON.stringify(audienceBody([{ userId: 'logged', value: true }]))
      expect((await postSync(receiver, 'segment-audiences', body)).status).toBe(204)
      expect((await postSync(receiver, 'segment-audiences', body, { authorization: `Bearer ${TOKENS.writer}` })).status).toBe(204)
      expect((await postSync(receiver, 'segment-audiences', body, { authorization: guess })).status).toBe(403)
      expect((await postSync(receiver, 'segment-audiences', body, { authorization: `Bearer ${guess}` })).status).toBe(403)
      expect((await postSync(receiver, 'segment-audiences', body, { authorization: TOKENS.reader })).status).toBe(403)
      expect((await postSync(receiver, 'segment-audiences', '{"broken', { authorization: TOKENS.writer })).status).toBe(400)
      expect((await receiver.request('GET', `/api/v2/segments/acme/production?token=${TOKENS.writer}`, { headers: { authorization: TOKENS.reader } })).status).toBe(200)
      expect((await receiver.request('GET', `/nope/${TOKENS.deleter}`, { headers: { authorization: TOKENS.deleter } })).status).toBe(404)
      // A slow client holding a token, and a malformed request carrying one.
      await rawExchange(receiver.port, [`POST /api/v2/segment-targets/segment-audiences HTTP/1.1\r\nHost: x\r\nAuthorization: ${TOKENS.updater}\r\nContent-Length: 50\r\n\r\n{`], { giveUpMs: 5_000 })
      await rawExchange(receiver.port, [`GET / HTTP/1.1\r\nAuthorization: ${TOKENS.stagingWriter}\r\nBad Header Line\r\n\r\n`], { giveUpMs: 5_000 })
      // A 500: its details are logged, the token of the request is not (the store's message is the test's own doing).
      failApply = true
      const failed = await postSync(receiver, 'segment-audiences', body)
      expect(failed.status).toBe(500)
      expect(leaksIn(failed.body)).toEqual([])

      const log = receiver.log()
      expect(log).toContain('internal error')
      const withoutStoreMessage = log.split(`apply failed for ${TOKENS.writer}`).join('')
      for (const token of [...ALL_TOKENS, guess]) expect(withoutStoreMessage).not.toContain(token)
      expect(log).not.toMatch(/authorization/i)
    } finally {
      await receiver.close()
      await sqlite.close()
    }
  })
})
