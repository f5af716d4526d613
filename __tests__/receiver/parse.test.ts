import fc from 'fast-check'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { BadRequestError } from '../../src/errors'
import { compileManifest, type CompiledIntegration } from '../../src/receiver/integrations/compile'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations, type ParsedRequest, type RequestParser } from '../../src/receiver/integrations'
import { parseRequest } from '../../src/receiver/parse'

const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
const bundled = (key: string): CompiledIntegration => {
  const integration = integrations.get(key)
  if (integration === undefined) throw new Error(`no bundled integration ${key}`)
  return integration
}

function integrationWith(requestParser: Partial<RequestParser>, key = 'test'): CompiledIntegration {
  const result = compileManifest(key, `/virtual/${key}/manifest.json`, { capabilities: { syncedSegment: { requestParser } } })
  if (result.integration === undefined) throw new Error(JSON.stringify(result.problems))
  return result.integration
}

const ENV = 'env-client-side-id'
const add = (...keys: string[]) => keys.map((contextKey) => ({ contextKey, included: true }))
const remove = (...keys: string[]) => keys.map((contextKey) => ({ contextKey, included: false }))

function expectBadRequest(fn: () => unknown, message: string): void {
  let error: unknown
  try {
    fn()
  } catch (err) {
    error = err
  }
  expect(error).toBeInstanceOf(BadRequestError)
  expect((error as BadRequestError).statusCode).toBe(400)
  expect((error as BadRequestError).message).toBe(message)
}

describe('fixtures/payloads: every example body parses to its expected ops', () => {
  const PAYLOADS = resolve(__dirname, '../../fixtures/payloads')
  const zeotapCohort = { cohortId: 'segment-1234', cohortName: 'Segment 1234' }
  const ex1Cohort = { cohortId: 'segment-1234', cohortName: 'Segment 1234' }
  const mixpanelCohort = { cohortId: '4711', cohortName: 'Weekly active' }
  const hightouchCohort = { cohortId: 'ht-model-512', cohortName: 'Newsletter subscribers' }
  const tealiumCohort = { cohortId: 'tealium-audience-17', cohortName: 'Cart abandoners' }
  const heapCohort = { cohortId: '88123', cohortName: 'Activated in first week' }
  const url = (u: string) => ({ cohortUrl: u })
  const addRemoveLayout = (cohortId: string, cohortName: string, cohortUrl: string) => ({
    'add.json': { contextKind: 'user', cohorts: [{ cohortId, cohortName, cohortUrl, ops: add('user-a1', 'user-b2') }] },
    'remove.json': { contextKind: 'user', cohorts: [{ cohortId, cohortName, cohortUrl, ops: remove('user-c3') }] },
    'mixed.json': {
      contextKind: 'user',
      cohorts: [{ cohortId, cohortName, cohortUrl, ops: [...add('user-a1', 'user-b2'), ...remove('user-c3', 'user-d4')] }]
    }
  })
  const expected: Record<string, Record<string, Omit<ParsedRequest, 'environmentId'>>> = {
    amplitude: {
      'mixed.json': {
        contextKind: 'user',
        cohorts: [
          {
            cohortId: '6v8x2lk',
            cohortName: 'Power users',
            ...url('https://app.amplitude.com/analytics/demo/cohort/6v8x2lk'),
            ops: [...add('user-1234'), ...remove('user-5678')]
          },
          // The URL is read from /batch/0 and so belongs to that member's cohort only.
          { cohortId: '9qk3mzp', cohortName: 'Churn risk', ops: add('user-9012') }
        ]
      }
    },
    'census-synced-segments': {
      'mixed.json': {
        contextKind: 'organization',
        cohorts: [{ cohortId: 'census-seg-41', cohortName: 'Enterprise accounts', ops: [...add('org-acme', 'org-globex'), ...remove('org-initech')] }]
      }
    },
    'example-synced-segment-integration1': {
      'add.json': { contextKind: 'user', cohorts: [{ ...ex1Cohort, ops: add('user-123', 'user-456') }] },
      'remove.json': { contextKind: 'user', cohorts: [{ ...ex1Cohort, ops: remove('user-789', 'user-101112') }] },
      'mixed.json': { contextKind: 'user', cohorts: [{ ...ex1Cohort, ops: [...add('user-123', 'user-456'), ...remove('user-789', 'user-101112')] }] }
    },
    'example-synced-segment-integration2': {
      'add.json': { contextKind: 'user', cohorts: [{ ...mixpanelCohort, ops: add('user-ada', 'user-alan') }] },
      'remove.json': { contextKind: 'user', cohorts: [{ ...mixpanelCohort, ops: remove('user-ada', 'user-alan') }] }
    },
    fulcrum: addRemoveLayout('flc_7731', 'Beta testers', 'https://app.fulcrum.example/segments/flc_7731'),
    'heap-inbound': {
      'add.json': { contextKind: 'user', cohorts: [{ ...heapCohort, ops: add('user-heap-1', '4519302') }] },
      'remove.json': { contextKind: 'user', cohorts: [{ ...heapCohort, ops: remove('user-heap-2') }] },
      'mixed.json': { contextKind: 'user', cohorts: [{ ...heapCohort, ops: [...add('user-heap-1', '4519302'), ...remove('user-heap-2')] }] }
    },
    hightouch: {
      'add.json': { contextKind: 'user', cohorts: [{ ...hightouchCohort, ops: add('user-1', 'user-2') }] },
      'remove.json': { contextKind: 'user', cohorts: [{ ...hightouchCohort, ops: remove('user-1', 'user-2') }] }
    },
    rudderstack: addRemoveLayout('rs-audience-88', 'High value customers', 'https://app.rudderstack.example/audiences/rs-audience-88'),
    'segment-audiences': {
      'mixed.json': {
        contextKind: 'user',
        cohorts: [
          { cohortId: 'aud_2Ix8Yq0B3eP5sT7uV9wX1yZ', cohortName: 'Ld segment test', ops: [...add('user-1001'), ...remove('user-1002')] },
          { cohortId: 'aud_2Jk4Lm6No8Pq0Rs2Tu4Vw6Xy', cohortName: 'Trial users', ops: add('user-1001') }
        ]
      },
      'remove.json': {
        contextKind: 'user',
        cohorts: [{ cohortId: 'aud_2Ix8Yq0B3eP5sT7uV9wX1yZ', cohortName: 'Ld segment test', ops: remove('user-1003') }]
      }
    },
    'sumatra-synced-segments': addRemoveLayout('risky-signups', 'Risky signups', 'https://console.sumatra.example/segments/risky-signups'),
    'tealium-synced-segments': {
      'add.json': { contextKind: 'user', cohorts: [{ ...tealiumCohort, ops: add('visitor-0001', 'visitor-0002') }] },
      'remove.json': { contextKind: 'user', cohorts: [{ ...tealiumCohort, ops: remove('visitor-0001', 'visitor-0002') }] },
      // The published matcher ^(add_member|remove_member)$ matches both; applied as written.
      'remove_member.json': { contextKind: 'user', cohorts: [{ ...tealiumCohort, ops: add('visitor-0001', 'visitor-0002') }] }
    },
    zeotap: {
      'add.json': { contextKind: 'user', cohorts: [{ ...zeotapCohort, ops: add('user-1234', 'user-5678') }] },
      'remove.json': { contextKind: 'user', cohorts: [{ ...zeotapCohort, ops: remove('user-1234', 'user-5678') }] }
    }
  }

  it('has an example for every bundled integration, and an expectation for every example', () => {
    const onDisk = Object.fromEntries(
      readdirSync(PAYLOADS, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => [d.name, readdirSync(join(PAYLOADS, d.name)).sort()])
    )
    expect(Object.keys(onDisk).sort()).toEqual([...integrations.keys()].sort())
    expect(onDisk).toEqual(Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, Object.keys(v).sort()])))
  })

  const cases = Object.entries(expected).flatMap(([key, files]) => Object.entries(files).map(([file, parsed]) => [key, file, parsed] as const))
  it.each(cases)('%s/%s', (key, file, parsed) => {
    const body: unknown = JSON.parse(readFileSync(join(PAYLOADS, key, file), 'utf8'))
    expect(parseRequest(bundled(key), body)).toEqual({ environmentId: ENV, ...parsed })
  })
})

describe('boolean mode (segment-audiences)', () => {
  const sa = bundled('segment-audiences')
  const member = (userId: unknown, value: unknown, extra: Record<string, unknown> = {}) => ({
    userId,
    cohortId: 'aud_1',
    cohortName: 'Aud 1',
    value,
    ...extra
  })

  it('false removes and true adds', () => {
    const parsed = parseRequest(sa, { environmentId: ENV, contextKind: 'user', batch: [member('a', true), member('b', false)] })
    expect(parsed.cohorts).toEqual([{ cohortId: 'aud_1', cohortName: 'Aud 1', ops: [...add('a'), ...remove('b')] }])
  })

  it.each([
    ['"true"', 'true', 'expected true or false, got string'],
    ['1', 1, 'expected true or false, got number'],
    ['0', 0, 'expected true or false, got number'],
    ['null', null, 'expected true or false, got null']
  ])('membership %s is a 400', (_label, value, reason) => {
    expectBadRequest(
      () => parseRequest(sa, { environmentId: ENV, batch: [member('a', true), member('b', value)] }),
      `/batch/1/value: ${reason}`
    )
  })

  it('a missing membership value is a 400', () => {
    expectBadRequest(
      () => parseRequest(sa, { environmentId: ENV, batch: [{ userId: 'a', cohortId: 'c', cohortName: 'C' }] }),
      '/batch/0/value: missing membership value (true or false)'
    )
  })

  it('the last operation on the same (cohort, context key) wins, in order of first appearance', () => {
    const parsed = parseRequest(sa, {
      environmentId: ENV,
      batch: [
        member('a', true),
        member('b', true),
        member('a', false),
        member('a', true, { cohortId: 'aud_2', cohortName: 'Aud 2' }),
        member('b', false),
        member('c', true),
        member('a', false, { cohortId: 'aud_2', cohortName: 'Aud 2' }),
        member('b', true)
      ]
    })
    expect(parsed.cohorts).toEqual([
      { cohortId: 'aud_1', cohortName: 'Aud 1', ops: [...remove('a'), ...add('b', 'c')] },
      { cohortId: 'aud_2', cohortName: 'Aud 2', ops: remove('a') }
    ])
  })

  it('keys differing only in type are the same key ("1" and 1)', () => {
    const parsed = parseRequest(sa, { environmentId: ENV, batch: [member('1', true), member(1, false)] })
    expect(parsed.cohorts[0].ops).toEqual(remove('1'))
  })

  it('an empty batch is a 400 naming the missing request-level cohort pointer', () => {
    expectBadRequest(() => parseRequest(sa, { environmentId: ENV, contextKind: 'user', batch: [] }), '/batch/0/cohortId: missing cohort ID')
  })

  it('per-member cohort name falls back to the request cohort name when only the ID is overridden', () => {
    const parsed = parseRequest(sa, {
      environmentId: ENV,
      batch: [member('a', true), { userId: 'b', cohortId: 'aud_9', value: true }]
    })
    expect(parsed.cohorts[1]).toEqual({ cohortId: 'aud_9', cohortName: 'Aud 1', ops: add('b') })
  })

  it('falls back to the request-level cohort name even after a member renamed the request cohort', () => {
    const parsed = parseRequest(sa, {
      environmentId: ENV,
      batch: [member('a', true), member('b', true, { cohortName: 'Renamed' }), { userId: 'c', cohortId: 'aud_9', value: true }]
    })
    expect(parsed.cohorts).toEqual([
      { cohortId: 'aud_1', cohortName: 'Renamed', ops: add('a', 'b') },
      { cohortId: 'aud_9', cohortName: 'Aud 1', ops: add('c') }
    ])
  })

  it('the last name seen for a cohort is its name', () => {
    const parsed = parseRequest(sa, { environmentId: ENV, batch: [member('a', true), member('b', true, { cohortName: 'Aud 1 renamed' })] })
    expect(parsed.cohorts).toEqual([{ cohortId: 'aud_1', cohortName: 'Aud 1 renamed', ops: add('a', 'b') }])
  })

  it('a per-member cohort ID of the wrong type is a 400 naming the member', () => {
    expectBadRequest(
      () => parseRequest(sa, { environmentId: ENV, batch: [member('a', true), member('b', true, { cohortId: { id: 1 } })] }),
      '/batch/1/cohortId: expected a string or number, got object'
    )
  })

  it('a member that is not an object has no ID', () => {
    expectBadRequest(() => parseRequest(sa, { environmentId: ENV, batch: [member('a', true), 'b'] }), '/batch/1/userId: missing member ID')
  })

  it('the member array must be an array', () => {
    // "0" is a key of an object too, so the cohort resolves; the member array still must be an array.
    expectBadRequest(() => parseRequest(sa, { environmentId: ENV, batch: { 0: member('a', true) } }), '/batch: expected an array of members, got object')
    const topLevelCohort = integrationWith({
      environmentIdPath: '/environmentId',
      cohortIdPath: '/cohortId',
      cohortNamePath: '/cohortName',
      memberArrayPath: '/batch',
      memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '/value' }
    })
    const base = { environmentId: ENV, cohortId: 'c', cohortName: 'C' }
    expectBadRequest(() => parseRequest(topLevelCohort, { ...base, batch: { a: 1 } }), '/batch: expected an array of members, got object')
    expectBadRequest(() => parseRequest(topLevelCohort, { ...base, batch: null }), '/batch: expected an array of members, got null')
    expectBadRequest(() => parseRequest(topLevelCohort, base), '/batch: missing member array')
  })
})

describe('required values and ID typing', () => {
  const sa = bundled('segment-audiences')
  const body = (overrides: Record<string, unknown>, memberOverrides: Record<string, unknown> = {}) => ({
    environmentId: ENV,
    contextKind: 'user',
    batch: [{ userId: 'u', cohortId: 'c', cohortName: 'C', value: true }, { userId: 'v', cohortId: 'c', cohortName: 'C', value: true, ...memberOverrides }],
    ...overrides
  })

  it.each([
    [{ environmentId: undefined }, '/environmentId: missing environment ID'],
    [{ environmentId: '' }, '/environmentId: expected a non-empty environment ID, got ""'],
    [{ environmentId: null }, '/environmentId: expected a string or number, got null'],
    [{ environmentId: false }, '/environmentId: expected a string or number, got boolean'],
    [{ environmentId: ['e'] }, '/environmentId: expected a string or number, got array'],
    [{ environmentId: { id: 'e' } }, '/environmentId: expected a string or number, got object']
  ])('environment ID %j', (overrides, message) => {
    expectBadRequest(() => parseRequest(sa, body(overrides)), message)
  })

  it.each([
    [{ userId: undefined }, '/batch/1/userId: missing member ID'],
    [{ userId: '' }, '/batch/1/userId: expected a non-empty member ID, got ""'],
    [{ userId: null }, '/batch/1/userId: expected a string or number, got null'],
    [{ userId: false }, '/batch/1/userId: expected a string or number, got boolean'],
    [{ userId: { id: 1 } }, '/batch/1/userId: expected a string or number, got object'],
    [{ userId: 'x'.repeat(1025) }, '/batch/1/userId: member ID is 1025 characters long, at most 1024 are allowed'],
    [{ cohortName: '' }, '/batch/1/cohortName: expected a non-empty cohort name, got ""'],
    [{ cohortName: true }, '/batch/1/cohortName: expected a string or number, got boolean']
  ])('member %j', (memberOverrides, message) => {
    expectBadRequest(() => parseRequest(sa, body({}, memberOverrides)), message)
  })

  it('names the array and index of the member at fault', () => {
    const batch = [0, 1, 2].map((i) => ({ userId: `u${i}`, cohortId: 'c', cohortName: 'C', value: true }))
    expectBadRequest(
      () => parseRequest(sa, { environmentId: ENV, batch: [...batch, { userId: { nested: true }, cohortId: 'c', cohortName: 'C', value: true }] }),
      '/batch/3/userId: expected a string or number, got object'
    )
  })

  it('false and 0 are values, not absence', () => {
    const zeroEnv = parseRequest(sa, body({ environmentId: 0, batch: [{ userId: 0, cohortId: 0, cohortName: 0, value: false }] }))
    expect(zeroEnv).toEqual({ environmentId: '0', contextKind: 'user', cohorts: [{ cohortId: '0', cohortName: '0', ops: remove('0') }] })
  })

  it('numbers are taken as their decimal string', () => {
    const parsed = parseRequest(sa, body({ environmentId: 12.5, batch: [{ userId: -7, cohortId: 1e21, cohortName: 3, value: true }] }))
    expect(parsed).toEqual({ environmentId: '12.5', contextKind: 'user', cohorts: [{ cohortId: '1e+21', cohortName: '3', ops: add('-7') }] })
  })

  it('member IDs of exactly 1,024 characters are fine', () => {
    const id = 'x'.repeat(1024)
    expect(parseRequest(sa, body({}, { userId: id })).cohorts[0].ops).toEqual(add('u', id))
  })

  it.each([null, 'text', 42, true])('a body that is %j is a 400', (value) => {
    expectBadRequest(() => parseRequest(sa, value), `the request body must be a JSON object or array, got ${value === null ? 'null' : typeof value}`)
  })

  it('a body that is an array is read like any document', () => {
    const whole = integrationWith({
      environmentIdPath: '/0/env',
      cohortIdPath: '/0/cohort',
      cohortNamePath: '/0/cohort',
      memberArrayPath: '/1',
      memberArrayParser: { memberIdPath: '/0', booleanMembershipPath: '/1' }
    })
    expectBadRequest(() => parseRequest(whole, [{ env: 'e', cohort: 'c' }, [['a', 'yes']]]), '/1/0/1: expected true or false, got string')
  })
})

describe('context kind', () => {
  const sa = bundled('segment-audiences')
  const body = (contextKind?: unknown) => ({
    environmentId: ENV,
    ...(contextKind === undefined ? {} : { contextKind }),
    batch: [{ userId: 'u', cohortId: 'c', cohortName: 'C', value: true }]
  })

  it('defaults to user when the value is missing', () => {
    expect(parseRequest(sa, body()).contextKind).toBe('user')
  })

  it('defaults to user when the manifest has no contextKindPath', () => {
    expect(parseRequest(bundled('amplitude'), { ...body(), contextKind: 'organization' }).contextKind).toBe('user')
  })

  it.each(['organization', 'device.v2', 'a_b-c', 'X'])('accepts %j', (kind) => {
    expect(parseRequest(sa, body(kind)).contextKind).toBe(kind)
  })

  // LaunchDarkly's parser takes any empty value as "no kind given".
  it.each([null, ''])('%j means user, as in LaunchDarkly', (kind) => {
    expect(parseRequest(sa, body(kind)).contextKind).toBe('user')
  })

  it.each(['kind', 'multi', 'has space', 'ünïcode', 'a/b'])('rejects %j', (kind) => {
    expectBadRequest(
      () => parseRequest(sa, body(kind)),
      `/contextKind: ${JSON.stringify(kind)} is not a valid context kind (letters, digits, ".", "_" and "-"; not "kind" or "multi")`
    )
  })

  it.each([
    [false, 'boolean'],
    [7, 'number'],
    [{}, 'object']
  ])('rejects %j', (kind, type) => {
    expectBadRequest(() => parseRequest(sa, body(kind)), `/contextKind: expected a context kind string, got ${type}`)
  })
})

describe('cohort URL', () => {
  const fulcrum = bundled('fulcrum')
  const body = (cohortUrl: unknown) => ({ environmentId: ENV, cohortId: 'c', cohortName: 'C', cohortUrl, included: { add: [{ id: 'a' }] } })

  it('is kept when it is a string', () => {
    expect(parseRequest(fulcrum, body('https://x.example/c')).cohorts[0].cohortUrl).toBe('https://x.example/c')
  })

  it.each([undefined, null, ''])('%j means no URL', (cohortUrl) => {
    expect(parseRequest(fulcrum, body(cohortUrl)).cohorts[0]).toStrictEqual({ cohortId: 'c', cohortName: 'C', ops: add('a') })
  })

  it('any other type is a 400', () => {
    expectBadRequest(() => parseRequest(fulcrum, body(5)), '/cohortUrl: expected a URL string, got number')
  })
})

describe('add/remove arrays (fulcrum)', () => {
  const fulcrum = bundled('fulcrum')
  const body = (included: unknown) => ({ environmentId: ENV, contextKind: 'account', cohortId: 'c', cohortName: 'C', included })

  it('either array may be absent', () => {
    expect(parseRequest(fulcrum, body({ add: [{ id: 'a' }] })).cohorts[0].ops).toEqual(add('a'))
    expect(parseRequest(fulcrum, body({ remove: [{ id: 'r' }] })).cohorts[0].ops).toEqual(remove('r'))
  })

  it('a request without members still names its cohort, with no ops', () => {
    expect(parseRequest(fulcrum, body({}))).toEqual({
      environmentId: ENV,
      contextKind: 'account',
      cohorts: [{ cohortId: 'c', cohortName: 'C', ops: [] }]
    })
    expect(parseRequest(fulcrum, body({ add: [], remove: [] })).cohorts).toEqual([{ cohortId: 'c', cohortName: 'C', ops: [] }])
  })

  it('a present array must be an array', () => {
    expectBadRequest(() => parseRequest(fulcrum, body({ add: { id: 'a' } })), '/included/add: expected an array of members, got object')
    expectBadRequest(() => parseRequest(fulcrum, body({ add: [], remove: null })), '/included/remove: expected an array of members, got null')
  })

  it('the add array is read first, so a key in both ends up removed', () => {
    expect(parseRequest(fulcrum, body({ add: [{ id: 'a' }, { id: 'b' }], remove: [{ id: 'a' }] })).cohorts[0].ops).toEqual([
      ...remove('a'),
      ...add('b')
    ])
  })

  it('duplicates within one array collapse', () => {
    expect(parseRequest(fulcrum, body({ add: [{ id: 'a' }, { id: 'a' }, { id: 'b' }] })).cohorts[0].ops).toEqual(add('a', 'b'))
  })

  it('names the array and index of a bad member', () => {
    expectBadRequest(() => parseRequest(fulcrum, body({ add: [{ id: 'a' }], remove: [{ id: 'b' }, { id: [] }] })), '/included/remove/1/id: expected a string or number, got array')
  })
})

describe('"" for an optional pointer means not set, as in LaunchDarkly\'s parser', () => {
  const boolean: Partial<RequestParser> = {
    environmentIdPath: '/environmentId',
    cohortIdPath: '/cohortId',
    cohortNamePath: '/cohortName',
    memberArrayPath: '/batch',
    memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '/value' }
  }
  const body = { environmentId: ENV, cohortId: 'c', cohortName: 'C', batch: [{ userId: 'u', cohortId: 'other', cohortName: 'Other', value: true }] }

  it('contextKindPath "" gives user (as a pointer it would be the whole body)', () => {
    expect(parseRequest(integrationWith({ ...boolean, contextKindPath: '' }), body).contextKind).toBe('user')
  })

  it('cohortUrlPath "" gives no URL', () => {
    expect(parseRequest(integrationWith({ ...boolean, cohortUrlPath: '' }), body).cohorts[0]).toStrictEqual({ cohortId: 'c', cohortName: 'C', ops: add('u') })
  })

  it('per-member cohortIdPath and cohortNamePath "" override nothing', () => {
    const memberArrayParser = { memberIdPath: '/userId', booleanMembershipPath: '/value', cohortIdPath: '', cohortNamePath: '' }
    expect(parseRequest(integrationWith({ ...boolean, memberArrayParser }), body).cohorts).toEqual([{ cohortId: 'c', cohortName: 'C', ops: add('u') }])
  })

  it('an add/remove manifest with removeMemberArrayPath "" only adds', () => {
    const addOnly = integrationWith({ ...boolean, memberArrayPath: undefined, addMemberArrayPath: '/add', removeMemberArrayPath: '', memberArrayParser: { memberIdPath: '/id' } })
    expect(addOnly.parser.mode).toEqual({ kind: 'addRemove', addArray: expect.objectContaining({ pointer: '/add' }), removeArray: undefined })
    expect(parseRequest(addOnly, { ...body, add: [{ id: 'a' }], '': [{ id: 'r' }] }).cohorts[0].ops).toEqual(add('a'))
  })

  it('jsonResponseBody "" means the default answer (no template)', () => {
    const result = compileManifest('t', '/virtual/t/manifest.json', { capabilities: { syncedSegment: { requestParser: boolean, jsonResponseBody: '' } } })
    expect(result.integration?.responseTemplate).toBeUndefined()
  })
})

describe('single action property (arrayInclusion)', () => {
  const zeotap = bundled('zeotap')
  const body = (action: unknown) => ({
    action,
    parameters: {
      integration_project_id: ENV,
      integration_cohort_id: 'c',
      integration_cohort_name: 'C',
      members: [{ integration_distinct_id: 'a' }, { integration_distinct_id: 'b' }]
    }
  })

  it.each([
    ['add_members', true],
    ['members', true],
    ['remove_members', false],
    ['ADD_MEMBERS', false],
    ['add_members ', false]
  ])('%j → included %s', (action, included) => {
    expect(parseRequest(zeotap, body(action)).cohorts[0].ops).toEqual([
      { contextKey: 'a', included },
      { contextKey: 'b', included }
    ])
  })

  it('applies an unanchored matcher as written (a substring match adds)', () => {
    const unanchored = integrationWith({
      environmentIdPath: '/env',
      cohortIdPath: '/id',
      cohortNamePath: '/id',
      memberArrayPath: '/members',
      arrayInclusion: { path: '/action', matcher: 'add' },
      memberArrayParser: { memberIdPath: '/id' }
    })
    const parse = (action: string) => parseRequest(unanchored, { env: 'e', id: 'c', action, members: [{ id: 'm' }] }).cohorts[0].ops
    expect(parse('please_add_these')).toEqual(add('m'))
    expect(parse('remove')).toEqual(remove('m'))
    // A flagless RegExp keeps no state between requests.
    expect(parse('add')).toEqual(add('m'))
    expect(parse('add')).toEqual(add('m'))
  })

  it('the action must be a string', () => {
    expectBadRequest(() => parseRequest(zeotap, body(true)), '/action: expected a string, got boolean')
    expectBadRequest(() => parseRequest(zeotap, body(undefined)), '/action: missing action')
  })

  it('the member array is required', () => {
    expectBadRequest(
      () => parseRequest(zeotap, { action: 'add_members', parameters: { integration_project_id: ENV, integration_cohort_id: 'c', integration_cohort_name: 'C' } }),
      '/parameters/members: missing member array'
    )
  })
})

describe('properties', () => {
  const all = [...integrations.values()]

  it('parse never throws anything but BadRequestError, whatever the JSON', () => {
    fc.assert(
      fc.property(fc.constantFrom(...all), fc.jsonValue(), (integration, body) => {
        try {
          parseRequest(integration, body)
        } catch (err) {
          expect(err).toBeInstanceOf(BadRequestError)
        }
      }),
      { numRuns: 500 }
    )
  })

  it('parse never throws anything but BadRequestError for near-valid bodies with arbitrary values', () => {
    const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(true, false, 0, '', 'x', 'kind', 'user', null))
    const member = fc.record({ userId: anyValue, cohortId: anyValue, cohortName: anyValue, value: anyValue }, { requiredKeys: [] })
    const sa = bundled('segment-audiences')
    fc.assert(
      fc.property(
        fc.record({ environmentId: anyValue, contextKind: anyValue, batch: fc.oneof(fc.array(member, { maxLength: 5 }), anyValue) }, { requiredKeys: [] }),
        (body) => {
          try {
            const parsed = parseRequest(sa, body)
            // Whatever parses is well-formed.
            expect(parsed.environmentId.length).toBeGreaterThan(0)
            for (const cohort of parsed.cohorts) for (const op of cohort.ops) expect(typeof op.contextKey).toBe('string')
          } catch (err) {
            expect(err).toBeInstanceOf(BadRequestError)
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it('ops equal the last operation per (cohort, key), each key once', () => {
    const sa = bundled('segment-audiences')
    const event = fc.record({ userId: fc.constantFrom('a', 'b', 'c', 'd'), cohortId: fc.constantFrom('c1', 'c2'), value: fc.boolean() })
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 30 }), (events) => {
        const batch = events.map((e) => ({ ...e, cohortName: e.cohortId.toUpperCase() }))
        const parsed = parseRequest(sa, { environmentId: ENV, batch })
        const last = new Map<string, boolean>()
        for (const e of batch) last.set(`${e.cohortId}\u0000${e.userId}`, e.value)
        const seen = new Map<string, boolean>()
        for (const cohort of parsed.cohorts) for (const op of cohort.ops) seen.set(`${cohort.cohortId}\u0000${op.contextKey}`, op.included)
        expect(seen).toEqual(last)
        expect(parsed.cohorts.reduce((n, c) => n + c.ops.length, 0)).toBe(last.size)
        expect(parsed.cohorts.map((c) => c.cohortId)).toEqual([...new Set(batch.map((e) => e.cohortId))])
      })
    )
  })
})
