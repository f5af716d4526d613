import { MAX_CONTEXT_KEY_LENGTH, toCohortName } from '../../src/destination/syncAudience/requests'
import type { Payload } from '../../src/destination/syncWarehouseAudience/generated-types'
import {
  buildWarehouseRequests,
  type WarehousePlanOptions
} from '../../src/destination/syncWarehouseAudience/members'

const options = { clientId: 'client-1', syncMode: 'mirror' as const }

function row(overrides: Partial<Payload> = {}): Payload {
  return {
    cohort_id: 'beta-testers',
    cohort_name: 'beta_testers',
    context_key: 'u1',
    context_kind: 'user',
    retl_event_name: 'new',
    batch_size: 1000,
    ...overrides
  }
}

function rejection(
  payload: Payload,
  membership: boolean | undefined,
  syncMode: WarehousePlanOptions['syncMode'] = 'mirror'
) {
  const route = buildWarehouseRequests([payload], [membership], { clientId: options.clientId, syncMode })
    .routes[0]
  return 'rejected' in route ? route.rejected : undefined
}

describe('buildWarehouseRequests', () => {
  it("sends syncAudience's body: the membership as value, the name as the shared rule makes it", () => {
    const plan = buildWarehouseRequests([row(), row({ context_key: 'u2' })], [true, false], options)
    expect(plan.requests).toEqual([
      {
        environmentId: 'client-1',
        contextKind: 'user',
        batch: [
          { userId: 'u1', cohortName: toCohortName('beta_testers'), cohortId: 'beta-testers', value: true },
          { userId: 'u2', cohortName: toCohortName('beta_testers'), cohortId: 'beta-testers', value: false }
        ]
      }
    ])
    expect(plan.routes.map((route) => ('request' in route ? route.request : route.rejected))).toEqual([0, 0])
  })

  it('rejects a row without membership, naming its event and the sync mode', () => {
    expect(rejection(row({ retl_event_name: 'updated' }), undefined, 'add')).toBe(
      'no membership follows for event "updated" under sync mode "add", which adds new rows only'
    )
    expect(rejection(row({ retl_event_name: undefined }), undefined, 'delete')).toBe(
      'no membership follows for event with no event name under sync mode "delete", which removes deleted rows only'
    )
    const unset = buildWarehouseRequests([row()], [undefined], { clientId: 'client-1', syncMode: undefined })
    expect(unset.routes[0]).toEqual({ rejected: expect.stringMatching(/^no sync mode is set/) })
  })

  it.each([
    ['an empty cohort ID', { cohort_id: '' }, `cohort_id (the segment's cohort ID) is "" (string)`],
    ['a blank name', { cohort_name: ' ' }, `cohort_name (the segment's name) is " " (string)`],
    ['a reserved kind', { context_kind: 'multi' }, 'context_kind "multi" is reserved by LaunchDarkly'],
    ['an invalid kind', { context_kind: 'user kind' }, /context_kind "user kind" is invalid/],
    [
      'an empty key',
      { context_key: '' },
      'no context key: the column mapped to context_key is "" (string) in this row'
    ],
    [
      'an over-long key',
      { context_key: 'x'.repeat(MAX_CONTEXT_KEY_LENGTH + 1) },
      /context_key column is longer than 1024 characters/
    ],
    [
      'a key with an unpaired surrogate',
      { context_key: 'bad\ud800' },
      /context_key column holds an unpaired UTF-16 surrogate/
    ],
    ['batch_size 0', { batch_size: 0 }, /batch_size must be a number from 1 to 10000/]
  ] as Array<[string, Partial<Payload>, string | RegExp]>)('rejects %s', (_label, overrides, message) => {
    expect(rejection(row(overrides), true)).toEqual(
      typeof message === 'string' ? message : expect.stringMatching(message)
    )
  })

  it('lets the last row for a key win and keeps rejected rows out of the requests', () => {
    const plan = buildWarehouseRequests(
      [row(), row({ context_key: '' }), row({ context_key: 'u2' }), row()],
      [true, true, true, false],
      options
    )
    expect(plan.requests[0].batch.map((m) => [m.userId, m.value])).toEqual([
      ['u2', true],
      ['u1', false]
    ])
    expect(plan.routes[0]).toBe(plan.routes[3])
    expect(plan.routes[1]).toEqual({ rejected: expect.stringMatching(/no context key/) })
  })

  it('checks every row of a batch on its own: kinds and names varying from row to row', () => {
    const rows = [
      row({ context_key: 'u1' }),
      row({ context_key: 'u2', context_kind: 'multi' }),
      row({ context_key: 'u3', context_kind: 'organization', cohort_name: 'other_cohort' }),
      row({ context_key: 'u4', context_kind: 'bad kind' }),
      row({ context_key: 'u5' }),
      row({ context_key: 'u6', context_kind: 'multi' })
    ]
    const plan = buildWarehouseRequests(
      rows,
      rows.map(() => true),
      options
    )
    expect(plan.routes.map((route) => ('request' in route ? route.request : route.rejected))).toEqual([
      0,
      'context_kind "multi" is reserved by LaunchDarkly',
      1,
      expect.stringMatching(/^context_kind "bad kind" is invalid/),
      0,
      'context_kind "multi" is reserved by LaunchDarkly'
    ])
    expect(
      plan.requests.map((r) => [r.contextKind, r.batch.map((m) => `${m.userId}:${m.cohortName}`)])
    ).toEqual([
      ['user', ['u1:Beta testers', 'u5:Beta testers']],
      ['organization', ['u3:Other cohort']]
    ])
  })

  it.each([
    ['white space of any kind', '\u00a0\u2003\ufeff\t'],
    ['a lone space', ' ']
  ])('takes a cohort ID of %s as blank', (_label, cohortId) => {
    expect(rejection(row({ cohort_id: cohortId }), true)).toMatch(/^cohort_id \(the segment's cohort ID\) is/)
  })

  it.each([' padded', '\u00a0x', 'élan', '\ttab'])('takes the cohort ID %j as a name', (cohortId) => {
    expect(rejection(row({ cohort_id: cohortId }), true)).toBeUndefined()
  })
})
