/**
 * `GET /metrics`, `/livez` and `/readyz` (SPEC §F). The metrics are read back with a Prometheus
 * text-format parser, so what is asserted is what a scraper would see.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import type { FastifyInstance } from 'fastify'
import type { SegmentStore } from '../../src/store/types'
import { audienceBody, makeApp, sync, testConfig, type TestApp, TOKENS } from './app-helpers'

type MetricFamily = ReturnType<typeof parsePrometheusTextFormat>[number]
type Sample = MetricFamily['metrics'][number]

const SECRET_KEYS = ['context-key-alpha@example.com', 'context-key-beta@example.com']

let t: TestApp
let app: FastifyInstance

afterEach(() => t.close())

async function scrape(target = app): Promise<{ text: string; families: Map<string, MetricFamily> }> {
  const response = await target.inject({ method: 'GET', url: '/metrics' })
  expect(response.statusCode).toBe(200)
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  const families = parsePrometheusTextFormat(response.body)
  // The parser is lenient: a sample it could not read has an empty or non-numeric value.
  for (const family of families) {
    for (const metric of family.metrics) {
      for (const value of [metric.value, metric.count, metric.sum, ...Object.values(metric.buckets ?? {})]) {
        // Prometheus reads NaN and Inf in any case (prom-client writes an empty event-loop mean as `Nan`).
        const readable =
          /^(nan|[+-]?inf)$/i.test(value ?? '') || (value !== '' && !Number.isNaN(Number(value)))
        if (value !== undefined) expect([family.name, value, readable]).toEqual([family.name, value, true])
      }
    }
  }
  const byName = new Map(families.map((family) => [family.name, family]))
  // Histograms come back without their labels; their `_count` samples, parsed alone, keep them.
  for (const family of families.filter((f) => f.type === 'HISTOGRAM')) {
    const counts = response.body.split('\n').filter((line) => line.startsWith(`${family.name}_count`))
    byName.set(family.name, {
      ...family,
      metrics: parsePrometheusTextFormat(`${counts.join('\n')}\n`)[0]?.metrics ?? []
    })
  }
  return { text: response.body, families: byName }
}

function sample(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string>
): number | undefined {
  const found = families
    .get(name)
    ?.metrics.find((m: Sample) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  return found ? Number(found.value) : undefined
}

describe('GET /metrics', () => {
  beforeEach(() => {
    t = makeApp()
    app = t.app
  })

  it('counts syncs and membership changes by integration, in Prometheus text format, without a token', async () => {
    const [alpha, beta] = SECRET_KEYS
    await sync(
      app,
      'segment-audiences',
      audienceBody([
        { userId: alpha, value: true },
        { userId: beta, value: true }
      ])
    )
    await sync(
      app,
      'segment-audiences',
      audienceBody([
        { userId: alpha, value: false },
        { userId: beta, value: true }
      ])
    )
    await sync(
      app,
      'segment-audiences',
      audienceBody([{ userId: alpha, value: true }], { contextKind: 'device' })
    )
    await sync(app, 'no-such-integration', audienceBody([{ userId: alpha, value: true }]))

    const { text, families } = await scrape()
    expect(families.get('synced_segments_sync_requests_total')?.type).toBe('COUNTER')
    expect(
      sample(families, 'synced_segments_sync_requests_total', {
        integration: 'segment-audiences',
        status: 'success'
      })
    ).toBe(2)
    expect(
      sample(families, 'synced_segments_sync_requests_total', {
        integration: 'segment-audiences',
        status: 'error'
      })
    ).toBe(1)
    expect(
      sample(families, 'synced_segments_sync_requests_total', { integration: 'unknown', status: 'error' })
    ).toBe(1)
    const changed = (op: string) =>
      sample(families, 'synced_segments_members_changed_total', { integration: 'segment-audiences', op })
    expect([changed('added'), changed('removed'), changed('unchanged')]).toEqual([2, 1, 1])

    expect(families.get('http_request_duration_seconds')?.type).toBe('HISTOGRAM')
    expect(
      sample(families, 'http_request_duration_seconds', {
        method: 'POST',
        route: '/api/v2/segment-targets/:integrationKey',
        status_code: '204'
      })
    ).toBe(2)
    expect(sample(families, 'synced_segments_store_apply_duration_seconds', { store: 'sqlite' })).toBe(3)
    expect(sample(families, 'synced_segments_segments', { project: 'acme', environment: 'production' })).toBe(
      1
    )
    expect(sample(families, 'synced_segments_segments', { project: 'acme', environment: 'staging' })).toBe(0)
    const syncedOn = sample(families, 'synced_segments_big_segments_synchronized_on_timestamp_seconds', {
      project: 'acme',
      environment: 'production'
    })
    expect(syncedOn).toBeGreaterThan(Date.now() / 1000 - 60)
    expect(syncedOn).toBeLessThanOrEqual(Date.now() / 1000)
    // prom-client's default process metrics.
    expect(families.has('process_cpu_user_seconds_total')).toBe(true)
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true)

    for (const secret of [...SECRET_KEYS, ...Object.values(TOKENS), 'writer-token'])
      expect(text).not.toContain(secret)
  })

  it('counts the REST API’s target edits (POST …/contexts) under integration "", as their history records them', async () => {
    await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
    const edit = await app.inject({
      method: 'POST',
      url: '/api/v2/segments/acme/production/segment-audiences-aud-1/contexts',
      headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
      payload: JSON.stringify({
        included: { add: ['u2', 'u3'], remove: ['u1', 'absent'] },
        excluded: { add: ['x'] }
      })
    })
    expect(edit.statusCode).toBe(204)
    const { families } = await scrape()
    expect(
      sample(families, 'synced_segments_sync_requests_total', { integration: '', status: 'success' })
    ).toBe(1)
    const changed = (op: string) =>
      sample(families, 'synced_segments_members_changed_total', { integration: '', op })
    // The included list's counts: u2 and u3 added, u1 removed, 'absent' changed nothing.
    expect([changed('added'), changed('removed'), changed('unchanged')]).toEqual([2, 1, 1])
  })

  it('labels requests by declared route, never by the path as sent', async () => {
    await app.inject({
      method: 'GET',
      url: `/api/v2/segments/acme/production/seg/contexts/${SECRET_KEYS[0]}`,
      headers: { authorization: TOKENS.writer }
    })
    await app.inject({ method: 'GET', url: `/nowhere/${SECRET_KEYS[1]}` })
    const { text, families } = await scrape()
    const routes = new Set(
      families.get('http_request_duration_seconds')?.metrics.map((m: Sample) => m.labels?.route)
    )
    expect(routes).toContain('/api/v2/segments/:projectKey/:environmentKey/:segmentKey/contexts/:contextKey')
    expect(routes).toContain('unmatched')
    for (const secret of SECRET_KEYS) expect(text).not.toContain(encodeURIComponent(secret))
  })

  it('keeps a registry per app: two apps in one process count apart', async () => {
    const other = makeApp()
    try {
      await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))
      const mine = await scrape()
      const theirs = await scrape(other.app)
      const filter = { integration: 'segment-audiences', status: 'success' }
      expect(sample(mine.families, 'synced_segments_sync_requests_total', filter)).toBe(1)
      expect(sample(theirs.families, 'synced_segments_sync_requests_total', filter)).toBeUndefined()
    } finally {
      await other.close()
    }
  })
})

it('serves no /metrics when metrics are off', async () => {
  t = makeApp({ config: testConfig({ metrics: { enabled: false } }) })
  app = t.app
  expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404)
  expect(
    (await sync(app, 'segment-audiences', audienceBody([{ userId: 'u1', value: true }]))).statusCode
  ).toBe(204)
})

describe('/livez and /readyz', () => {
  it('are 200 while the store answers', async () => {
    t = makeApp()
    app = t.app
    for (const url of ['/livez', '/readyz', '/healthz']) {
      const response = await app.inject({ method: 'GET', url })
      expect([url, response.statusCode, response.json()]).toEqual([url, 200, { status: 'ok' }])
    }
  })

  it('answer a store outage apart: /readyz 503, /livez still 200', async () => {
    let down = false
    t = makeApp({
      wrapStore: (s) =>
        Object.assign(Object.create(s) as SegmentStore, {
          ping: () => (down ? Promise.reject(new Error('connection refused')) : s.ping()),
          listSegments: (...args: Parameters<SegmentStore['listSegments']>) =>
            down ? Promise.reject(new Error('connection refused')) : s.listSegments(...args)
        })
    })
    app = t.app
    down = true
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503)
    expect((await app.inject({ method: 'GET', url: '/livez' })).statusCode).toBe(200)
    // The scrape still answers, without the store's gauges.
    const scraped = await scrape()
    expect(scraped.families.get('synced_segments_segments')?.metrics).toEqual([])
    down = false
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200)
  })
})
