import type { FastifyInstance } from 'fastify'
import type { SegmentRecord, SegmentStore } from '../../src/store/types'
import { audienceBody, expectJsonError, get, makeApp, PROD_ID, STAGING_ID, sync, type TestApp, TOKENS } from './app-helpers'

const SEGMENTS = '/api/v2/segments/acme/production'

let t: TestApp
let app: FastifyInstance

beforeEach(() => {
  t = makeApp()
  app = t.app
})
afterEach(() => t.close())

async function addMembers(cohortId: string, userIds: string[], environmentId = PROD_ID): Promise<void> {
  const response = await sync(app, 'segment-audiences', audienceBody(userIds.map((userId) => ({ userId, cohortId, value: true })), { environmentId }))
  expect(response.statusCode).toBe(204)
}

function del(url: string, token: string | null = TOKENS.writer) {
  return app.inject({ method: 'DELETE', url, headers: token === null ? {} : { authorization: token } })
}

interface MembersPage {
  totalCount: number
  items: string[]
  next: string | null
}

describe('GET /api/v2/segments/:proj/:env', () => {
  it('lists segments by key with totalCount, limit and offset', async () => {
    for (const id of ['c', 'a', 'b']) await addMembers(id, ['u1'])
    const all = await get(app, SEGMENTS)
    expect(all.statusCode).toBe(200)
    const body = all.json<{ items: SegmentRecord[]; totalCount: number }>()
    expect(body.totalCount).toBe(3)
    expect(body.items.map((s) => s.key)).toEqual(['segment-audiences-a', 'segment-audiences-b', 'segment-audiences-c'])

    const page = (await get(app, `${SEGMENTS}?limit=2&offset=1`)).json<{ items: SegmentRecord[]; totalCount: number }>()
    expect(page.totalCount).toBe(3)
    expect(page.items.map((s) => s.key)).toEqual(['segment-audiences-b', 'segment-audiences-c'])
  })

  it('pages 50 by default and allows at most 50', async () => {
    const members = Array.from({ length: 51 }, (_, i) => ({ userId: 'u1', cohortId: `c${String(i).padStart(2, '0')}`, value: true }))
    expect((await sync(app, 'segment-audiences', audienceBody(members))).statusCode).toBe(204)
    const page = (await get(app, SEGMENTS)).json<{ items: SegmentRecord[]; totalCount: number }>()
    expect(page.totalCount).toBe(51)
    expect(page.items).toHaveLength(50)
    expect((await get(app, `${SEGMENTS}?limit=50&offset=50`)).json<{ items: SegmentRecord[] }>().items.map((s) => s.key)).toEqual(['segment-audiences-c50'])
    expect(expectJsonError(await get(app, `${SEGMENTS}?limit=51`), 400).message).toMatch(/limit/)
    expectJsonError(await get(app, `${SEGMENTS}?limit=0`), 400)
    expectJsonError(await get(app, `${SEGMENTS}?offset=-1`), 400)
    expectJsonError(await get(app, `${SEGMENTS}?limit=ten`), 400)
  })

  it('404 for an unknown project or environment', async () => {
    expectJsonError(await get(app, '/api/v2/segments/acme/nope'), 404)
    expectJsonError(await get(app, '/api/v2/segments/nope/production'), 404)
  })
})

describe('GET /api/v2/segments/:proj/:env/:key', () => {
  it('returns the segment with LaunchDarkly field names', async () => {
    const before = Date.now()
    const body = {
      environmentId: PROD_ID,
      contextKind: 'organization',
      cohortId: 'rs-1',
      cohortName: 'Rudder cohort',
      cohortUrl: 'https://rudderstack.example.com/cohorts/1',
      listData: { add: [{ id: 'org-1' }, { id: 'org-2' }] }
    }
    expect((await sync(app, 'rudderstack', body)).statusCode).toBe(204)
    const response = await get(app, `${SEGMENTS}/rudderstack-rs-1`)
    expect(response.statusCode).toBe(200)
    const segment = response.json<SegmentRecord>()
    expect(segment).toEqual({
      key: 'rudderstack-rs-1',
      name: 'Rudder cohort',
      unbounded: true,
      unboundedContextKind: 'organization',
      generation: 1,
      creationDate: expect.any(Number),
      lastModifiedDate: expect.any(Number),
      _external: 'rudderstack',
      _externalLink: 'https://rudderstack.example.com/cohorts/1',
      includedCount: 2,
      _lastSync: { time: expect.any(Number), status: 'success', added: 2, removed: 0 }
    })
    expect(segment.creationDate).toBeGreaterThanOrEqual(before)
    expect(segment.lastModifiedDate).toBeGreaterThanOrEqual(segment.creationDate)
  })

  it('404 for an unknown segment', async () => {
    expect(expectJsonError(await get(app, `${SEGMENTS}/nope`), 404, 'not_found').message).toMatch(/nope/)
  })
})

describe('GET …/contexts/:contextKey', () => {
  it('says whether a context is included, for keys of any shape', async () => {
    const odd = 'a/b?c#d "quoted" ü 🙂'
    await addMembers('a', ['u1', odd])
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/contexts/u1`)).json()).toEqual({ contextKey: 'u1', included: true })
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/contexts/u2`)).json()).toEqual({ contextKey: 'u2', included: false })
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/contexts/${encodeURIComponent(odd)}`)).json()).toEqual({ contextKey: odd, included: true })
    expectJsonError(await get(app, `${SEGMENTS}/nope/contexts/u1`), 404)
  })
})

describe('GET …/members', () => {
  it('pages through every member with the cursor, in byte order', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `user-${String(i).padStart(2, '0')}`)
    await addMembers('a', [...keys].reverse())
    const seen: string[] = []
    let after: string | null = null
    let pages = 0
    do {
      const url: string = `${SEGMENTS}/segment-audiences-a/members?limit=10${after === null ? '' : `&after=${encodeURIComponent(after)}`}`
      const response = await get(app, url)
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^application\/json/)
      const page = response.json<MembersPage>()
      expect(page.totalCount).toBe(25)
      seen.push(...page.items)
      after = page.next
      pages += 1
      if (after !== null) expect(after).toBe(page.items[page.items.length - 1])
    } while (after !== null)
    expect(pages).toBe(3)
    expect(seen).toEqual(keys)
  })

  it('sets next to null when the page ends exactly at the last member', async () => {
    await addMembers('a', ['u1', 'u2'])
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/members?limit=2`)).json()).toEqual({ totalCount: 2, items: ['u1', 'u2'], next: null })
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/members?limit=1`)).json()).toEqual({ totalCount: 2, items: ['u1'], next: 'u1' })
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/members?after=u2`)).json()).toEqual({ totalCount: 2, items: [], next: null })
  })

  it('streams a large page as valid JSON with escaped keys', async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `member "${String(i).padStart(4, '0')}" \\ ${'x'.repeat(20)}`)
    for (let i = 0; i < keys.length; i += 1000) await addMembers('big', keys.slice(i, i + 1000))
    const response = await get(app, `${SEGMENTS}/segment-audiences-big/members?limit=5000`)
    expect(response.statusCode).toBe(200)
    expect(response.json<MembersPage>()).toEqual({ totalCount: 3000, items: [...keys].sort(), next: null })
  })

  it('defaults to 1000 members a page and validates limit', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `u${String(i).padStart(4, '0')}`)
    await addMembers('a', keys.slice(0, 1000))
    await addMembers('a', keys.slice(1000))
    const page = (await get(app, `${SEGMENTS}/segment-audiences-a/members`)).json<MembersPage>()
    expect(page.items).toHaveLength(1000)
    expect(page.next).toBe('u0999')
    expectJsonError(await get(app, `${SEGMENTS}/segment-audiences-a/members?limit=0`), 400)
    expectJsonError(await get(app, `${SEGMENTS}/segment-audiences-a/members?limit=1000001`), 400)
    expectJsonError(await get(app, `${SEGMENTS}/nope/members`), 404)
  })
})

describe('DELETE /api/v2/segments/:proj/:env/:key', () => {
  it('deletes; a later sync re-creates the segment with generation 2 and only the new members', async () => {
    await addMembers('a', ['u1', 'u2'])
    const response = await del(`${SEGMENTS}/segment-audiences-a`)
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    expectJsonError(await get(app, `${SEGMENTS}/segment-audiences-a`), 404)
    expect((await get(app, SEGMENTS)).json()).toEqual({ items: [], totalCount: 0 })
    expectJsonError(await del(`${SEGMENTS}/segment-audiences-a`), 404)

    await addMembers('a', ['u3'])
    expect((await get(app, `${SEGMENTS}/segment-audiences-a`)).json()).toMatchObject({ generation: 2, includedCount: 1 })
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/contexts/u1`)).json()).toEqual({ contextKey: 'u1', included: false })
    expect((await get(app, `${SEGMENTS}/segment-audiences-a/members`)).json()).toEqual({ totalCount: 1, items: ['u3'], next: null })
  })
})

describe('token scopes on every route', () => {
  beforeEach(async () => {
    await addMembers('a', ['u1'])
    await addMembers('a', ['u1'], STAGING_ID)
  })

  const reads = [
    SEGMENTS,
    `${SEGMENTS}/segment-audiences-a`,
    `${SEGMENTS}/segment-audiences-a/contexts/u1`,
    `${SEGMENTS}/segment-audiences-a/members`
  ]

  it.each(reads)('GET %s needs a token with viewProject for the environment', async (url) => {
    expectJsonError(await get(app, url, null), 403)
    expectJsonError(await get(app, url, 'wrong-token-0001'), 403)
    expect((await get(app, url, TOKENS.reader)).statusCode).toBe(200)
    expect((await get(app, url, `Bearer ${TOKENS.reader}`)).statusCode).toBe(200)
    expect((await get(app, url, TOKENS.writer)).statusCode).toBe(200)
    // deleteSegment alone does not read; a staging token does not see production.
    expectJsonError(await get(app, url, TOKENS.deleter), 403)
    expectJsonError(await get(app, url, TOKENS.stagingWriter), 403)
    expectJsonError(await get(app, url.replace('/production', '/staging'), TOKENS.reader), 403)
  })

  it('hides unknown environments from tokens that may not see them (403 before 404)', async () => {
    expectJsonError(await get(app, '/api/v2/segments/secret/env', TOKENS.reader), 403)
    expectJsonError(await get(app, '/api/v2/segments/secret/env', TOKENS.writer), 404)
  })

  it('DELETE needs deleteSegment for the environment', async () => {
    const url = `${SEGMENTS}/segment-audiences-a`
    expectJsonError(await del(url, null), 403)
    expectJsonError(await del(url, TOKENS.reader), 403)
    expectJsonError(await del(url, TOKENS.updater), 403)
    expectJsonError(await del(url.replace('/production', '/staging'), TOKENS.deleter), 403)
    expect((await get(app, url)).statusCode).toBe(200)
    expect((await del(url, TOKENS.deleter)).statusCode).toBe(204)
    expect((await get(app, url.replace('/production', '/staging'))).statusCode).toBe(200)
  })
})

describe('GET /api/v2/versions', () => {
  it('answers 200 with the API versions for any valid token, else 403', async () => {
    for (const token of [TOKENS.writer, TOKENS.reader, `Bearer ${TOKENS.deleter}`]) {
      const response = await get(app, '/api/v2/versions', token)
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ validVersions: [20220603, 20240415], latestVersion: 20240415, currentVersion: 20240415, beta: false })
    }
    expectJsonError(await get(app, '/api/v2/versions', null), 403)
    expectJsonError(await get(app, '/api/v2/versions', 'wrong-token-0001'), 403)
  })
})

describe('HEAD|GET /sdk/goals/:clientId', () => {
  it('200 [] for a known client-side ID without a token, else 404', async () => {
    const response = await get(app, `/sdk/goals/${PROD_ID}`, null)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual([])
    const head = await app.inject({ method: 'HEAD', url: `/sdk/goals/${STAGING_ID}` })
    expect(head.statusCode).toBe(200)
    expect(head.body).toBe('')
    expectJsonError(await get(app, '/sdk/goals/unknown-id', null), 404)
    expect((await app.inject({ method: 'HEAD', url: '/sdk/goals/unknown-id' })).statusCode).toBe(404)
  })
})

describe('GET /healthz', () => {
  it('200 while the store answers', async () => {
    const response = await get(app, '/healthz', null)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it('503 when the store is unreachable', async () => {
    const down = makeApp({
      wrapStore: (s) => Object.assign(Object.create(s) as SegmentStore, { ping: () => Promise.reject(new Error('connection refused')) })
    })
    try {
      const response = await get(down.app, '/healthz', null)
      expect(expectJsonError(response, 503, 'service_unavailable').message).not.toMatch(/refused/)
    } finally {
      await down.close()
    }
  })
})

describe('anything else', () => {
  it('answers unknown routes and methods with a JSON 404', async () => {
    expectJsonError(await get(app, '/nope', null), 404, 'not_found')
    expectJsonError(await get(app, '/api/v2/segment-targets/segment-audiences'), 404)
    expectJsonError(await app.inject({ method: 'PUT', url: `${SEGMENTS}/x` }), 404)
    expectJsonError(await get(app, '/../../etc/passwd', null), 404)
  })
})
