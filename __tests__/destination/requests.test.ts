import {
  buildSyncRequests,
  contextKindProblem,
  toCohortName
} from '../../src/destination/syncAudience/requests'
import { payload } from './helpers'

const options = { clientId: 'client-side-id-123' }

function rejection(route: ReturnType<typeof buildSyncRequests>['routes'][number]): string {
  if (!('rejected' in route)) throw new Error(`expected a rejection, got request ${route.request}`)
  return route.rejected
}

describe("toCohortName: Segment's rule, first character upper-cased and every _ a space", () => {
  it.each([
    ['ld_segment_test', 'Ld segment test'],
    ['VIP_Users', 'VIP Users'],
    ['High_Value__Users', 'High Value  Users'],
    ['vip', 'Vip'],
    ['order_completed_last_30days', 'Order completed last 30days'],
    ['_leading_and_trailing_', ' leading and trailing '],
    ['___', '   '],
    ['élan_vital', 'Élan vital'],
    ['Mixed Case already', 'Mixed Case already'],
    ['a-b.c', 'A-b.c']
  ])('%j → %j', (key, name) => {
    expect(toCohortName(key)).toBe(name)
  })
})

describe('contextKindProblem', () => {
  it.each(['user', 'organization', 'device.v2', 'a_b-c', 'K9'])('accepts %s', (kind) => {
    expect(contextKindProblem(kind)).toBeUndefined()
  })
  it.each([
    ['kind', /reserved/],
    ['multi', /reserved/],
    ['', /missing/],
    ['has space', /invalid/],
    ['user:org', /invalid/],
    ['ünïcode', /invalid/]
  ])('rejects %j', (kind, message) => {
    expect(contextKindProblem(kind)).toMatch(message)
  })
})

describe('buildSyncRequests: one event', () => {
  it('turns an entered audience into an add for the user ID', () => {
    const plan = buildSyncRequests([payload()], options)
    expect(plan.requests).toEqual([
      {
        environmentId: 'client-side-id-123',
        contextKind: 'user',
        batch: [{ userId: 'user-1', cohortName: 'Ld segment test', cohortId: 'aud_1', value: true }]
      }
    ])
    expect(plan.routes).toEqual([{ request: 0, member: plan.requests[0].batch[0] }])
  })

  it('turns an exited audience (false) into a remove', () => {
    const plan = buildSyncRequests([payload({ traits_or_props: { ld_segment_test: false } })], options)
    expect(plan.requests[0].batch[0].value).toBe(false)
  })

  it.each([
    ['missing', {}, /got missing/],
    ['the string "false"', { ld_segment_test: 'false' }, /got "false" \(string\)/],
    ['the string "true"', { ld_segment_test: 'true' }, /got "true" \(string\)/],
    ['0', { ld_segment_test: 0 }, /got 0 \(number\)/],
    ['1', { ld_segment_test: 1 }, /got 1 \(number\)/],
    ['null', { ld_segment_test: null }, /got null \(null\)/]
  ])('rejects membership %s instead of guessing', (_label, traits, message) => {
    const plan = buildSyncRequests([payload({ traits_or_props: traits })], options)
    expect(plan.requests).toEqual([])
    expect(rejection(plan.routes[0])).toMatch(/traits_or_props\["ld_segment_test"\] must be true or false/)
    expect(rejection(plan.routes[0])).toMatch(message)
  })

  it('ignores a membership inherited from the prototype', () => {
    const plan = buildSyncRequests(
      [payload({ segment_audience_key: 'constructor', traits_or_props: {} })],
      options
    )
    expect(rejection(plan.routes[0])).toMatch(/must be true or false; got missing/)
  })

  it.each(['computed_trait', 'trait', undefined])('rejects computation class %s', (computationClass) => {
    const plan = buildSyncRequests(
      [payload({ segment_computation_action: computationClass as 'audience' })],
      options
    )
    expect(rejection(plan.routes[0])).toMatch(
      /segment_computation_action must be "audience" or "journey_step"/
    )
  })

  it('accepts journey steps', () => {
    const plan = buildSyncRequests([payload({ segment_computation_action: 'journey_step' })], options)
    expect(plan.requests).toHaveLength(1)
  })

  it.each([
    ['an empty audience ID', { segment_audience_id: '' }, /segment_audience_id/],
    ['an empty audience key', { segment_audience_key: '' }, /segment_audience_key/],
    ['the reserved kind multi', { context_kind: 'multi' }, /reserved/],
    ['a kind with a space', { context_kind: 'bad kind' }, /invalid/],
    ['batch_size 0', { batch_size: 0 }, /batch_size must be a number from 1 to 10000; got 0/],
    ['batch_size 10001', { batch_size: 10001 }, /got 10001/],
    ['batch_size 0.5', { batch_size: 0.5 }, /got 0.5/],
    ['a context key over 1024 characters', { segment_user_id: 'x'.repeat(1025) }, /longer than 1024/]
  ])('rejects %s', (_label, overrides, message) => {
    const plan = buildSyncRequests([payload(overrides)], options)
    expect(plan.requests).toEqual([])
    expect(rejection(plan.routes[0])).toMatch(message)
  })

  it('does not mutate its input', () => {
    const input = [payload(), payload({ segment_user_id: 'user-2' }), payload({ traits_or_props: {} })]
    const before = structuredClone(input)
    buildSyncRequests(input, options)
    expect(input).toEqual(before)
  })
})

describe('buildSyncRequests: context key priority', () => {
  const noIdentifiers = { segment_user_id: undefined, segment_anonymous_id: undefined }
  const ids = { segment_user_id: 'uid', user_email: 'e@example.com', segment_anonymous_id: 'anon' }
  it.each([
    ['user_id_only', ids, 'uid'],
    ['user_id_then_email', ids, 'uid'],
    ['user_id_then_email', { ...ids, segment_user_id: undefined }, 'e@example.com'],
    ['user_id_then_email', { ...ids, segment_user_id: '' }, 'e@example.com'],
    ['user_id_then_anonymousId', { ...ids, segment_user_id: undefined }, 'anon'],
    ['user_id_then_email_then_anonymousId', { ...ids, segment_user_id: '' }, 'e@example.com'],
    // As Segment's destination: only '' counts as no identifier, a blank key is a key.
    ['user_id_only', { ...ids, segment_user_id: '  ' }, '  '],
    ['user_id_then_email_then_anonymousId', { segment_anonymous_id: 'anon' }, 'anon'],
    ['email_only', ids, 'e@example.com']
  ] as const)('%s with %j → %s', (priority, identifiers, key) => {
    const plan = buildSyncRequests(
      [payload({ ...noIdentifiers, ...identifiers, context_key: priority })],
      options
    )
    expect(plan.requests[0].batch[0].userId).toBe(key)
  })

  it.each([
    [
      'user_id_only',
      { segment_anonymous_id: 'anon', user_email: 'e@example.com' },
      /segment_user_id is missing or empty/
    ],
    [
      'user_id_then_email',
      { segment_user_id: '', segment_anonymous_id: 'anon' },
      /segment_user_id, user_email are all missing/
    ],
    ['email_only', { segment_user_id: 'uid' }, /user_email is missing or empty/]
  ] as const)('%s rejects %j: never sent without a key', (priority, identifiers, message) => {
    const plan = buildSyncRequests(
      [payload({ ...noIdentifiers, ...identifiers, context_key: priority })],
      options
    )
    expect(plan.requests).toEqual([])
    expect(rejection(plan.routes[0])).toMatch(message)
  })

  it('rejects an unknown priority', () => {
    const plan = buildSyncRequests([payload({ context_key: 'anonymous_id_only' as 'email_only' })], options)
    expect(rejection(plan.routes[0])).toMatch(/context_key must be one of/)
  })
})

describe('buildSyncRequests: batches', () => {
  it('puts several audiences of one kind into one request, in event order', () => {
    const plan = buildSyncRequests(
      [
        payload({ segment_user_id: 'u1' }),
        payload({
          segment_user_id: 'u2',
          segment_audience_id: 'aud_2',
          segment_audience_key: 'vip',
          traits_or_props: { vip: false }
        }),
        payload({ segment_user_id: 'u3' })
      ],
      options
    )
    expect(plan.requests).toHaveLength(1)
    expect(plan.requests[0].batch.map((m) => [m.userId, m.cohortId, m.cohortName, m.value])).toEqual([
      ['u1', 'aud_1', 'Ld segment test', true],
      ['u2', 'aud_2', 'Vip', false],
      ['u3', 'aud_1', 'Ld segment test', true]
    ])
    expect(plan.routes.map((r) => ('request' in r ? r.request : r.rejected))).toEqual([0, 0, 0])
  })

  it('splits by context kind, each request carrying its own kind', () => {
    const plan = buildSyncRequests(
      [
        payload({ segment_user_id: 'u1', context_kind: 'user' }),
        payload({ segment_user_id: 'org-1', context_kind: 'organization' }),
        payload({ segment_user_id: 'u2', context_kind: 'user' })
      ],
      options
    )
    expect(plan.requests.map((r) => [r.contextKind, r.batch.map((m) => m.userId)])).toEqual([
      ['user', ['u1', 'u2']],
      ['organization', ['org-1']]
    ])
    expect(plan.routes.map((r) => ('request' in r ? r.request : r.rejected))).toEqual([0, 1, 0])
  })

  it('keeps at most batch_size members per request', () => {
    const payloads = Array.from({ length: 7 }, (_, i) => payload({ segment_user_id: `u${i}`, batch_size: 3 }))
    const plan = buildSyncRequests(payloads, options)
    expect(plan.requests.map((r) => r.batch.map((m) => m.userId))).toEqual([
      ['u0', 'u1', 'u2'],
      ['u3', 'u4', 'u5'],
      ['u6']
    ])
    expect(plan.routes.map((r) => ('request' in r ? r.request : r.rejected))).toEqual([0, 0, 0, 1, 1, 1, 2])
  })

  it('rounds a fractional batch_size down (the field is a number, so that its limits are enforced)', () => {
    const payloads = Array.from({ length: 5 }, (_, i) =>
      payload({ segment_user_id: `u${i}`, batch_size: 2.9 })
    )
    const plan = buildSyncRequests(payloads, options)
    expect(plan.requests.map((r) => r.batch.length)).toEqual([2, 2, 1])
  })

  it('lets the last event per (kind, audience, context key) win; earlier ones route to it', () => {
    const plan = buildSyncRequests(
      [
        payload({ segment_user_id: 'u1', traits_or_props: { ld_segment_test: true } }),
        payload({ segment_user_id: 'u2' }),
        payload({ segment_user_id: 'u1', traits_or_props: { ld_segment_test: false } }),
        payload({ segment_user_id: 'u1', context_kind: 'member' })
      ],
      options
    )
    expect(plan.requests.map((r) => [r.contextKind, r.batch.map((m) => `${m.userId}:${m.value}`)])).toEqual([
      ['user', ['u2:true', 'u1:false']],
      ['member', ['u1:true']]
    ])
    const [first, , last] = plan.routes
    expect(first).toEqual(last)
    expect(first).toEqual({
      request: 0,
      member: { userId: 'u1', cohortName: 'Ld segment test', cohortId: 'aud_1', value: false }
    })
  })

  it('a rejected event changes nothing for the others', () => {
    const plan = buildSyncRequests(
      [
        payload({ segment_user_id: 'u1' }),
        payload({ segment_user_id: undefined }),
        payload({ segment_user_id: 'u3' })
      ],
      options
    )
    expect(plan.requests[0].batch.map((m) => m.userId)).toEqual(['u1', 'u3'])
    expect(rejection(plan.routes[1])).toMatch(/no context key/)
  })

  it('builds nothing for nothing', () => {
    expect(buildSyncRequests([], options)).toEqual({ requests: [], routes: [] })
  })
})
