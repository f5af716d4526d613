/**
 * The sync history through the receiver (SPEC §F): what each write request leaves behind, rejected
 * ones with their reasons, `_lastSync` on segments, `GET /api/v2/sync-history`, and turning it off.
 */
import type { FastifyInstance } from 'fastify'
import type { SyncRecord } from '../../src/store/types'
import {
  audienceBody,
  expectJsonError,
  get,
  makeApp,
  OTHER_ID,
  STAGING_ID,
  sync,
  testConfig,
  type TestApp,
  TOKENS
} from './app-helpers'

const HISTORY = '/api/v2/sync-history/acme/production'

let t: TestApp
let app: FastifyInstance

afterEach(() => t.close())

function start(extra: Record<string, unknown> = {}): void {
  t = makeApp({ config: testConfig(extra) })
  app = t.app
}

async function history(query = '', path = HISTORY): Promise<{ items: SyncRecord[]; next: string | null }> {
  const response = await get(app, `${path}${query}`)
  expect(response.statusCode).toBe(200)
  return response.json()
}

/** Rejected requests are recorded after their response has gone out: wait for them. */
async function historyOfLength(count: number, query = '', path = HISTORY): Promise<SyncRecord[]> {
  const deadline = Date.now() + 5_000
  for (;;) {
    const { items } = await history(query, path)
    if (items.length >= count || Date.now() > deadline) {
      expect(items).toHaveLength(count)
      return items
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** u1 and u2 into segment-audiences-aud-1 of production. */
async function syncTwoMembers(): Promise<void> {
  const members = [
    { userId: 'u1', value: true },
    { userId: 'u2', value: true }
  ]
  expect((await sync(app, 'segment-audiences', audienceBody(members))).statusCode).toBe(204)
}

/** `_lastSync` of a segment, as the read API returns it. */
async function lastSync(segmentKey: string, env = 'acme/production'): Promise<unknown> {
  const response = await get(app, `/api/v2/segments/${env}/${segmentKey}`)
  return response.json<Record<string, unknown>>()._lastSync
}

describe('successful syncs', () => {
  beforeEach(() => start())

  it('records what each request did: added, removed, unchanged, per segment', async () => {
    expect(
      (
        await sync(
          app,
          'segment-audiences',
          audienceBody([
            { userId: 'u1', value: true },
            { userId: 'u2', value: true }
          ])
        )
      ).statusCode
    ).toBe(204)
    const second = await sync(
      app,
      'segment-audiences',
      audienceBody([
        { userId: 'u1', value: true },
        { userId: 'u2', value: false },
        { userId: 'u3', value: false },
        { userId: 'u4', value: true, cohortId: 'aud-2' },
        // A duplicate: the last op on a key wins and is counted once.
        { userId: 'u4', value: true, cohortId: 'aud-2' }
      ])
    )
    expect(second.statusCode).toBe(204)

    const { items, next } = await history()
    expect(next).toBeNull()
    expect(items).toHaveLength(2)
    expect(items[0]).toEqual({
      requestId: expect.any(String),
      time: expect.any(Number),
      operation: 'segment-targets',
      integration: 'segment-audiences',
      tokenName: 'writer',
      projectKey: 'acme',
      environmentKey: 'production',
      segments: [
        { segmentKey: 'segment-audiences-aud-1', added: 0, removed: 1, unchanged: 2 },
        { segmentKey: 'segment-audiences-aud-2', added: 1, removed: 0, unchanged: 0 }
      ],
      members: 4,
      status: 'success',
      statusCode: 204,
      durationMs: expect.any(Number)
    })
    expect(items[1].segments).toEqual([
      { segmentKey: 'segment-audiences-aud-1', added: 2, removed: 0, unchanged: 0 }
    ])
    expect(items[0].requestId).not.toBe(items[1].requestId)
    expect(JSON.stringify(items)).not.toMatch(/u1|u2|u3|u4|token-0001/)
  })

  it('puts _lastSync on the segment in the read API', async () => {
    await syncTwoMembers()
    const segmentLastSync = await lastSync('segment-audiences-aud-1')
    const [record] = await history().then((h) => h.items)
    expect(segmentLastSync).toEqual({ time: record.time, status: 'success', added: 2, removed: 0 })
    const list = (await get(app, '/api/v2/segments/acme/production')).json<{
      items: Record<string, unknown>[]
    }>()
    expect(list.items[0]._lastSync).toEqual(segmentLastSync)
  })

  it('records a delete with the members it removed', async () => {
    await syncTwoMembers()
    const response = await app.inject({
      method: 'DELETE',
      url: '/api/v2/segments/acme/production/segment-audiences-aud-1',
      headers: { authorization: TOKENS.deleter }
    })
    expect(response.statusCode).toBe(204)
    const [record] = (await history()).items
    expect(record).toMatchObject({
      operation: 'delete',
      integration: '',
      tokenName: 'deleter',
      segments: [{ segmentKey: 'segment-audiences-aud-1', added: 0, removed: 2, unchanged: 0 }],
      status: 'success',
      statusCode: 204
    })
  })
})

describe('target edits (POST …/contexts)', () => {
  beforeEach(() => start())

  it('records an edit with its counts, and a refused one with its reason', async () => {
    await syncTwoMembers()
    const post = (token: string, body: unknown) =>
      app.inject({
        method: 'POST',
        url: '/api/v2/segments/acme/production/segment-audiences-aud-1/contexts',
        headers: { authorization: token, 'content-type': 'application/json' },
        payload: JSON.stringify(body)
      })
    expect((await post(TOKENS.writer, { included: { add: ['u2', 'u3'], remove: ['u1'] } })).statusCode).toBe(204)
    const [edit] = (await history()).items
    expect(edit).toMatchObject({
      operation: 'contexts',
      integration: '',
      tokenName: 'writer',
      segments: [{ segmentKey: 'segment-audiences-aud-1', added: 1, removed: 1, unchanged: 1 }],
      members: 3,
      status: 'success',
      statusCode: 204
    })
    expect(await lastSync('segment-audiences-aud-1')).toMatchObject({ status: 'success', added: 1, removed: 1 })
    // The excluder may not edit included keys: a 403, recorded with its reason, nothing changed.
    const refused = await post(TOKENS.excluder, { included: { add: ['u9'] } })
    expect(refused.statusCode).toBe(403)
    const [rejection] = await historyOfLength(1, '?status=error')
    expect(rejection).toMatchObject({
      operation: 'contexts',
      tokenName: 'excluder',
      status: 'error',
      statusCode: 403,
      error: { code: refused.json<{ code: string }>().code }
    })
  })
})

describe('rejected requests', () => {
  const STAGING_HISTORY = '/api/v2/sync-history/acme/staging'

  it('records every rejection of a recognised token with its status, code and message', async () => {
    start({ rateLimit: { max: 9, windowMs: 3_600_000 }, bodyLimitBytes: 4096 })
    const token = TOKENS.stagingWriter
    const staging = (members: { userId: string; value: boolean }[], extra: Record<string, unknown> = {}) =>
      audienceBody(members, { environmentId: STAGING_ID, ...extra })
    const u1 = [{ userId: 'u1', value: true }]
    const expected: [number, string][] = []
    const send = async (
      status: number,
      code: string | undefined,
      response: Promise<{ statusCode: number }>
    ) => {
      expect((await response).statusCode).toBe(status)
      if (code) expected.push([status, code])
    }
    await send(204, undefined, sync(app, 'segment-audiences', staging(u1), { token }))
    await send(404, 'unknown_integration', sync(app, 'no-such-integration', staging(u1), { token }))
    await send(
      415,
      'unsupported_media_type',
      sync(app, 'segment-audiences', staging(u1), { token, contentType: 'text/plain' })
    )
    await send(
      413,
      'request_too_large',
      sync(app, 'segment-audiences', null, { token, raw: `{"pad":"${'x'.repeat(5000)}"}` })
    )
    await send(
      400,
      'invalid_request',
      sync(app, 'segment-audiences', null, { token, raw: '{"environmentId": ' })
    )
    await send(
      400,
      'invalid_request',
      sync(app, 'segment-audiences', { environmentId: STAGING_ID, batch: [{ value: true }] }, { token })
    )
    await send(
      400,
      'unknown_environment',
      sync(app, 'segment-audiences', staging(u1, { environmentId: 'nope' }), { token })
    )
    await send(
      409,
      'conflict',
      sync(app, 'segment-audiences', staging(u1, { contextKind: 'device' }), { token })
    )
    // Production is named, but the token may not write it: recorded there, not in staging.
    await send(403, undefined, sync(app, 'segment-audiences', audienceBody(u1), { token }))
    await send(
      204,
      undefined,
      sync(app, 'segment-audiences', staging([{ userId: 'u2', value: true }]), { token })
    )
    await send(429, 'rate_limited', sync(app, 'segment-audiences', staging(u1), { token }))

    const errors = await historyOfLength(expected.length, '?status=error&limit=100', STAGING_HISTORY)
    expect(errors.map((r) => [r.statusCode, r.error?.code]).reverse()).toEqual(expected)
    for (const record of errors) {
      expect(record).toMatchObject({
        status: 'error',
        tokenName: 'staging-writer',
        projectKey: 'acme',
        environmentKey: 'staging'
      })
      expect(record.error?.message).toEqual(expect.any(String))
    }
    expect(errors.find((r) => r.statusCode === 409)).toMatchObject({
      integration: 'segment-audiences',
      segments: [{ segmentKey: 'segment-audiences-aud-1', added: 0, removed: 0, unchanged: 0 }],
      members: 1
    })
    expect(errors.find((r) => r.statusCode === 404)?.integration).toBe('no-such-integration')
    const segmentLastSync = await lastSync('segment-audiences-aud-1', 'acme/staging')
    // The last change applied to it added u2; the rejections after it left it as it was.
    expect(segmentLastSync).toMatchObject({ status: 'success', added: 1 })
    const [forbidden] = await historyOfLength(1, '?status=error')
    expect(forbidden).toMatchObject({
      statusCode: 403,
      tokenName: 'staging-writer',
      error: { code: 'forbidden' }
    })
    expect((await history('?status=success', STAGING_HISTORY)).items).toHaveLength(2)
  })

  it('leaves _lastSync of a segment as it was after a rejected sync: a rejection changes nothing', async () => {
    start()
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
    const before = await lastSync('segment-audiences-aud-1')
    await sync(
      app,
      'segment-audiences',
      audienceBody([{ userId: 'u1', value: false }], { contextKind: 'device' })
    )
    await historyOfLength(1, '?status=error')
    expect(await lastSync('segment-audiences-aud-1')).toEqual(before)
    expect(before).toEqual({ time: expect.any(Number), status: 'success', added: 1, removed: 0 })
  })

  it('records nothing for an unknown token, nor where the environment cannot be told', async () => {
    start()
    const body = audienceBody([{ userId: 'u1', value: true }])
    expect((await sync(app, 'segment-audiences', body, { token: 'not-a-token-at-all' })).statusCode).toBe(403)
    // The writer may write every environment: bad JSON and an unknown client-side ID name none of them.
    expect((await sync(app, 'segment-audiences', null, { raw: '[' })).statusCode).toBe(400)
    expect(
      (
        await sync(
          app,
          'segment-audiences',
          audienceBody([{ userId: 'u1', value: true }], { environmentId: OTHER_ID + 'x' })
        )
      ).statusCode
    ).toBe(400)
    await sync(app, 'segment-audiences', body)
    expect(
      (
        await sync(
          app,
          'segment-audiences',
          audienceBody([{ userId: 'u1', value: true }], { contextKind: 'device' })
        )
      ).statusCode
    ).toBe(409)
    const errors = await historyOfLength(1, '?status=error')
    expect(errors[0].statusCode).toBe(409)
    for (const env of ['acme/staging', 'other/test']) {
      expect((await history('', `/api/v2/sync-history/${env}`)).items).toEqual([])
    }
  })
})

describe('GET /api/v2/sync-history', () => {
  beforeEach(() => start())

  it('filters by segment, integration and status and pages newest first with a cursor', async () => {
    for (let i = 0; i < 5; i++) {
      await sync(
        app,
        'segment-audiences',
        audienceBody([{ userId: `u${i}`, value: true, cohortId: i % 2 === 0 ? 'even' : 'odd' }])
      )
    }
    const all = (await history('?limit=100')).items
    expect(all).toHaveLength(5)
    const first = await history('?limit=2')
    const second = await history(`?limit=2&after=${first.next}`)
    const third = await history(`?limit=2&after=${second.next}`)
    expect([...first.items, ...second.items, ...third.items]).toEqual(all)
    expect(third.next).toBeNull()
    expect((await history('?segmentKey=segment-audiences-odd')).items).toHaveLength(2)
    expect((await history('?integration=segment-audiences&status=success')).items).toHaveLength(5)
    expect((await history('?integration=hightouch')).items).toEqual([])
    expect((await history('?status=error')).items).toEqual([])
  })

  it('needs viewProject on the environment and refuses bad queries', async () => {
    expectJsonError(await get(app, HISTORY, null), 403)
    expectJsonError(await get(app, '/api/v2/sync-history/acme/staging', TOKENS.reader), 403)
    expect((await get(app, HISTORY, TOKENS.reader)).statusCode).toBe(200)
    expectJsonError(await get(app, '/api/v2/sync-history/acme/nowhere'), 404)
    expectJsonError(await get(app, `${HISTORY}?status=failed`), 400)
    expectJsonError(await get(app, `${HISTORY}?limit=0`), 400)
    expectJsonError(await get(app, `${HISTORY}?limit=101`), 400)
    expectJsonError(await get(app, `${HISTORY}?after=-1`), 400)
  })
})

describe('with the history off', () => {
  it('records nothing and leaves segments without _lastSync', async () => {
    start({ history: { enabled: false } })
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
    await sync(
      app,
      'segment-audiences',
      audienceBody([{ userId: 'u1', value: true }], { contextKind: 'device' })
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect((await history()).items).toEqual([])
    const segmentLastSync = await lastSync('segment-audiences-aud-1')
    expect(segmentLastSync).toBeUndefined()
  })
})
