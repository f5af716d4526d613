/**
 * Every bundled integration end to end: its example bodies (fixtures/payloads) over HTTP into the
 * SQLite store, and the effect read back through the read API. The expected effect comes from a
 * small model of the manifest here, not from the receiver's parser.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SegmentRecord } from '../../src/store/types'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations } from '../../src/receiver/integrations'
import type { RequestParser } from '../../src/receiver/integrations/types'
import { segmentKeyFor } from '../../src/receiver/segment-key'
import { get, makeApp, PROD_ID, sync, type TestApp } from './app-helpers'

const PAYLOADS = join(__dirname, '..', '..', 'fixtures', 'payloads')
const SEGMENTS = '/api/v2/segments/acme/production'
const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
/** add before mixed before remove, so that every change is visible against the previous state. */
const ORDER = ['add.json', 'mixed.json', 'remove.json']

function fixtures(key: string): string[] {
  const files = readdirSync(join(PAYLOADS, key)).filter((f) => f.endsWith('.json'))
  const rank = (f: string) => (ORDER.includes(f) ? ORDER.indexOf(f) : ORDER.length)
  return files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

/** RFC 6901 lookup over own properties; enough for the bundled manifests' pointers. */
function at(value: unknown, pointer: string | undefined): unknown {
  if (pointer === undefined) return undefined
  let current = value
  for (const token of pointer.split('/').slice(1)) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~')
    if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, key)) return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}

const id = (value: unknown): string => String(value)

interface Expected {
  cohorts: Map<string, { name: string; url?: string; ops: Map<string, boolean> }>
  contextKind: string
}

/** What a body should do, read straight off the manifest's requestParser. */
function expectedEffect(parser: RequestParser, body: unknown): Expected {
  const cohorts: Expected['cohorts'] = new Map()
  const requestCohort = { id: id(at(body, parser.cohortIdPath)), name: id(at(body, parser.cohortNamePath)) }
  const url = at(body, parser.cohortUrlPath) as string | undefined
  const member = parser.memberArrayParser
  const record = (m: unknown, included: boolean) => {
    const cohortId = at(m, member.cohortIdPath) === undefined ? requestCohort.id : id(at(m, member.cohortIdPath))
    const name = at(m, member.cohortNamePath) === undefined ? requestCohort.name : id(at(m, member.cohortNamePath))
    // The request's cohort URL belongs to the request's cohort, not to a member's override.
    const cohort = cohorts.get(cohortId) ?? { name, url: cohortId === requestCohort.id ? url : undefined, ops: new Map<string, boolean>() }
    cohorts.set(cohortId, cohort)
    const contextKey = id(at(m, member.memberIdPath))
    cohort.ops.delete(contextKey) // last operation wins, in its own position
    cohort.ops.set(contextKey, included)
  }
  if (parser.addMemberArrayPath !== undefined && parser.removeMemberArrayPath !== undefined) {
    for (const m of (at(body, parser.addMemberArrayPath) as unknown[] | undefined) ?? []) record(m, true)
    for (const m of (at(body, parser.removeMemberArrayPath) as unknown[] | undefined) ?? []) record(m, false)
  } else if (parser.arrayInclusion) {
    const included = new RegExp(parser.arrayInclusion.matcher).test(String(at(body, parser.arrayInclusion.path)))
    for (const m of at(body, parser.memberArrayPath) as unknown[]) record(m, included)
  } else {
    for (const m of at(body, parser.memberArrayPath) as unknown[]) record(m, at(m, member.booleanMembershipPath) as boolean)
  }
  return { cohorts, contextKind: (at(body, parser.contextKindPath) as string | undefined) ?? 'user' }
}

it('has example payloads for every bundled integration', () => {
  expect(integrations.size).toBe(12)
  for (const key of integrations.keys()) expect(fixtures(key).length).toBeGreaterThan(0)
})

describe.each([...integrations.keys()].sort())('%s', (key) => {
  const integration = integrations.get(key)
  if (!integration) throw new Error(`integration ${key} did not load`)
  const parser = integration.capability.requestParser
  let t: TestApp

  beforeAll(() => {
    t = makeApp()
  })
  afterAll(() => t.close())

  it('adds and removes members in each way its manifest supports, as the read API shows', async () => {
    const directions = new Set<boolean>()
    for (const file of fixtures(key)) {
      const raw = readFileSync(join(PAYLOADS, key, file), 'utf8')
      expect(raw).toContain('"env-client-side-id"')
      const text = raw.split('"env-client-side-id"').join(JSON.stringify(PROD_ID))
      const body: unknown = JSON.parse(text)

      const response = await sync(t.app, key, undefined, { raw: text })
      if (integration.capability.jsonResponseBody === undefined) {
        expect({ file, status: response.statusCode, body: response.body }).toEqual({ file, status: 204, body: '' })
      } else {
        expect({ file, status: response.statusCode }).toEqual({ file, status: 200 })
        expect(response.json()).toMatchObject({ status: 'success' })
      }

      const expected = expectedEffect(parser, body)
      expect(expected.cohorts.size).toBeGreaterThan(0)
      for (const [cohortId, cohort] of expected.cohorts) {
        const segmentKey = segmentKeyFor(key, cohortId)
        const segment = (await get(t.app, `${SEGMENTS}/${encodeURIComponent(segmentKey)}`)).json<SegmentRecord>()
        expect(segment).toMatchObject({
          key: segmentKey,
          name: cohort.name,
          unbounded: true,
          unboundedContextKind: expected.contextKind,
          _external: key
        })
        if (cohort.url !== undefined) expect(segment._externalLink).toBe(cohort.url)
        for (const [contextKey, included] of cohort.ops) {
          directions.add(included)
          const check = await get(t.app, `${SEGMENTS}/${encodeURIComponent(segmentKey)}/contexts/${encodeURIComponent(contextKey)}`)
          expect({ file, contextKey, ...check.json<object>() }).toEqual({ file, contextKey, userKey: contextKey, included, excluded: false })
        }
        const members = (await get(t.app, `${SEGMENTS}/${encodeURIComponent(segmentKey)}/members?limit=100000`)).json<{ items: string[] }>()
        expect(members.items.length).toBe(segment.includedCount)
      }
    }
    // Both directions were exercised: an add and a remove.
    expect([...directions].sort()).toEqual([false, true])
  })
})
