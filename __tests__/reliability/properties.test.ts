/**
 * Property-based tests (fast-check, fixed seeds) of the receiver against an independent model
 * written from the manifests (./model.ts):
 * - for every bundled integration, generated valid payloads parse to exactly the model's operations;
 * - member IDs of any shape round-trip: HTTP → store (SQLite and Redis) → `/contexts/:key` and the
 *   streamed `/members`;
 * - arbitrary JSON, and valid bodies with one value replaced by arbitrary JSON, are always answered
 *   with a JSON 2xx or 4xx, never a 500, and a 4xx leaves the state as it was.
 */
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { BadRequestError } from '../../src/errors'
import { parseRequest } from '../../src/receiver/parse'
import { openRedisStore } from '../../src/store/redis'
import type { SegmentStore } from '../../src/store/types'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { makeApp, type TestApp } from '../receiver/app-helpers'
import { bundledIntegrations, byteOrder, leaksIn, PROD_ID, readMembers, readState, type Response, TOKENS } from './helpers'
import { bodyFor, bundledManifests, type Id, modelOf, pointersOf, requestArb, setAt } from './model'

jest.setTimeout(120_000)

const manifests = bundledManifests()
const integrations = bundledIntegrations()
const compiled = (key: string) => {
  const integration = integrations.get(key)
  if (!integration) throw new Error(`no integration ${key}`)
  return integration
}

/** `request` over app.inject: the HTTP semantics of the app without a socket (fast enough for thousands of runs). */
function client(app: FastifyInstance) {
  return {
    request: async (method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Response> => {
      const r = await app.inject({ method: method as 'GET', url: path, headers: options.headers, payload: options.body })
      return { status: r.statusCode, headers: r.headers as Response['headers'], body: r.body }
    }
  }
}

const SEED = 20261121
const headers = { authorization: TOKENS.writer, 'content-type': 'application/json' }

it('checks every bundled integration', () => {
  expect(manifests.map((m) => m.key)).toEqual([...integrations.keys()].sort())
  expect(manifests).toHaveLength(12)
})

describe.each(manifests.map((m) => [m.key, m] as const))('%s', (key, manifest) => {
  it('generated valid payloads parse to exactly the operations of the model', () => {
    const integration = compiled(key)
    let runs = 0
    fc.assert(
      fc.property(requestArb(manifest, { environmentId: PROD_ID }), (request) => {
        // Through JSON text, as over HTTP (numbers such as -0 are what JSON makes of them).
        const body: unknown = JSON.parse(JSON.stringify(bodyFor(manifest, request)))
        expect(parseRequest(integration, body)).toEqual(modelOf(manifest, request))
        runs++
      }),
      { seed: SEED, numRuns: 300 }
    )
    expect(runs).toBe(300)
  })
})

describe.each(['SQLite', 'Redis'] as const)('over HTTP on %s', (storeName) => {
  let t: TestApp
  let http: ReturnType<typeof client>
  let redis: RedisServer | undefined
  let redisStore: SegmentStore | undefined
  beforeAll(async () => {
    if (storeName === 'Redis') {
      redis = await startRedisServer()
      redisStore = await openRedisStore({ url: redis.url })
    }
    t = makeApp(redisStore ? { wrapStore: () => redisStore as SegmentStore } : {})
    http = client(t.app)
  })
  afterAll(async () => {
    await t.close()
    await redisStore?.close()
    await redis?.stop()
  })

  it.each(manifests.map((m) => [m.key, m] as const))(
    '%s: member IDs round-trip through the store to /contexts/:key and /members',
    async (key, manifest) => {
      const RUNS = storeName === 'SQLite' ? 25 : 15
      let run = 0
      await fc.assert(
        fc.asyncProperty(requestArb(manifest, { environmentId: PROD_ID, maxMembers: 10 }), async (request) => {
          run++
          // Fresh, plainly named cohorts per run, so segment keys follow `<integration>-<cohortId>`.
          const renamed = new Map<string, string>()
          const rename = (id: Id): string => {
            const k = String(id)
            if (!renamed.has(k)) renamed.set(k, `r${run}c${renamed.size}`)
            return renamed.get(k) as string
          }
          request.cohortId = rename(request.cohortId)
          for (const m of request.members) if (m.cohortId !== undefined) m.cohortId = rename(m.cohortId)
          const model = modelOf(manifest, request)

          const response = await http.request('POST', `/api/v2/segment-targets/${key}`, { headers, body: JSON.stringify(bodyFor(manifest, request)) })
          expect([response.status, response.body.slice(0, 200)]).toEqual([manifest.hasTemplate ? 200 : 204, response.body.slice(0, 200)])

          for (const cohort of model.cohorts) {
            const segmentKey = `${key}-${cohort.cohortId}`
            const base = `/api/v2/segments/acme/production/${segmentKey}`
            const segment = JSON.parse((await http.request('GET', base, { headers })).body) as Record<string, unknown>
            expect(segment).toMatchObject({ key: segmentKey, name: cohort.cohortName, unboundedContextKind: model.contextKind })
            const expected = byteOrder(cohort.ops.filter((op) => op.included).map((op) => op.contextKey))
            expect(segment.includedCount).toBe(expected.length)
            expect(await readMembers(http, 'acme/production', segmentKey, 3)).toEqual(expected)
            for (const op of cohort.ops) {
              const answer = await http.request('GET', `${base}/contexts/${encodeURIComponent(op.contextKey)}`, { headers })
              expect(JSON.parse(answer.body)).toEqual({ userKey: op.contextKey, contextKey: op.contextKey, included: op.included, excluded: false })
            }
          }
        }),
        { seed: SEED, numRuns: RUNS }
      )
      expect(run).toBe(RUNS)
    }
  )
})

describe('arbitrary JSON over HTTP', () => {
  // A fresh receiver per integration keeps the state small enough to read in full after every request.
  let t: TestApp
  let http: ReturnType<typeof client>
  beforeEach(() => {
    t = makeApp()
    http = client(t.app)
  })
  afterEach(() => t.close())

  // Small pools: requests meet the same few segments and members again.
  const ids = fc.constantFrom<Id>('a', 'b', 'c', 1, '😀')
  const cohorts = fc.constantFrom<Id>('p1', 'p2')
  const anyJson = fc.jsonValue({ maxDepth: 3 })

  it.each(manifests.map((m) => [m.key, m] as const))(
    '%s: always a JSON 2xx or 4xx, never a 500, and a 4xx changes nothing',
    async (key, manifest) => {
      const pointers = pointersOf(manifest).map((p) => p.pointer)
      const nearValid = fc
        .tuple(requestArb(manifest, { environmentId: PROD_ID, ids, cohorts, maxMembers: 4 }), fc.constantFrom(...pointers, '/extra', ''), fc.option(anyJson, { nil: undefined }))
        .map(([request, pointer, value]) => {
          const body = bodyFor(manifest, request)
          if (pointer === '') return value === undefined ? null : value
          if (value === undefined) {
            // Leave the value out: write a marker, then drop it from the serialised text.
            setAt(body, pointer, '\u0000drop')
            return JSON.parse(JSON.stringify(body, (_k, v: unknown) => (v === '\u0000drop' ? undefined : v))) as unknown
          }
          setAt(body, pointer, value)
          return body
        })
      const statuses = new Map<number, number>()
      await fc.assert(
        fc.asyncProperty(fc.oneof(anyJson, nearValid, nearValid), async (body) => {
          const before = await readState(http)
          const response = await http.request('POST', `/api/v2/segment-targets/${key}`, { headers, body: JSON.stringify(body) })
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
          expect([204, 200, 400, 409]).toContain(response.status)
          expect(leaksIn(response.body)).toEqual([])
          if (response.status !== 204) {
            expect(response.headers['content-type']).toMatch(/^application\/json/)
            expect(() => JSON.parse(response.body)).not.toThrow()
          }
          if (response.status >= 400) expect(await readState(http)).toEqual(before)
        }),
        { seed: SEED, numRuns: 100 }
      )
      // Both outcomes were exercised, not only rejections.
      expect([...statuses.keys()].some((s) => s < 300)).toBe(true)
      expect(statuses.get(400)).toBeGreaterThan(0)
    }
  )
})

it('parse never throws anything but a 400, nor hangs, for arbitrary JSON with prototype keys', () => {
  const protoKeys = fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'batch', 'environmentId', 'userId', 'value'), fc.jsonValue({ maxDepth: 2 }))
  for (const integration of integrations.values()) {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), protoKeys), (value) => {
        // Through JSON text, so "__proto__" is an own key as JSON.parse makes it.
        const body: unknown = JSON.parse(JSON.stringify(value))
        try {
          parseRequest(integration, body)
        } catch (error) {
          expect(error).toBeInstanceOf(BadRequestError)
        }
      }),
      { seed: SEED, numRuns: 200, interruptAfterTimeLimit: 20_000 }
    )
  }
  expect(({} as Record<string, unknown>).environmentId).toBeUndefined()
})
