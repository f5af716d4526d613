import fc from 'fast-check'
import {
  planMembers,
  type AcceptedMember,
  type CohortMember,
  type SegmentAudiencesBody
} from '../../src/destination/syncAudience/requests'

const options = { clientId: 'client-1' }

/** The planner's rules written the plain way: a winner per event found by searching, then requests filled in order. */
function modelPlan(accepted: readonly AcceptedMember[]) {
  const sizes = accepted.flatMap((entry) => ('rejected' in entry ? [] : [entry.batchSize]))
  const batchSize = Math.min(10000, ...sizes)
  const sameMember = (a: AcceptedMember, b: AcceptedMember): boolean =>
    !('rejected' in a) &&
    !('rejected' in b) &&
    a.kind === b.kind &&
    a.member.cohortId === b.member.cohortId &&
    a.member.userId === b.member.userId
  const winner = accepted.map((entry, index) => {
    let last = index
    accepted.forEach((other, j) => {
      if (j > last && sameMember(entry, other)) last = j
    })
    return last
  })
  const requests: SegmentAudiencesBody[] = []
  const requestOf = new Map<number, number>()
  accepted.forEach((entry, index) => {
    if ('rejected' in entry || winner[index] !== index) return
    const open = requests.reduce((found, r, i) => (r.contextKind === entry.kind ? i : found), -1)
    const target =
      open !== -1 && requests[open].batch.length < batchSize
        ? open
        : requests.push({ environmentId: options.clientId, contextKind: entry.kind, batch: [] }) - 1
    requests[target].batch.push(entry.member)
    requestOf.set(index, target)
  })
  const routes = accepted.map((entry, index) =>
    'rejected' in entry
      ? { rejected: entry.rejected }
      : {
          request: requestOf.get(winner[index]) as number,
          member: (accepted[winner[index]] as { member: CohortMember }).member
        }
  )
  return { requests, routes, winner }
}

const acceptedMember: fc.Arbitrary<AcceptedMember> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ rejected: fc.constantFrom('bad row', 'no key') }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('user', 'organization'),
      batchSize: fc.integer({ min: 1, max: 5 }),
      member: fc.record({
        userId: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
        cohortName: fc.constant('Cohort'),
        cohortId: fc.constantFrom('c1', 'c2'),
        value: fc.boolean()
      })
    })
  }
)

describe('planMembers against its rules written plainly', () => {
  it('the last event per (kind, audience, context key) wins, kinds apart, at most batch_size per request, earlier events share their winner’s route', () => {
    fc.assert(
      fc.property(fc.array(acceptedMember, { maxLength: 40 }), (accepted) => {
        const plan = planMembers(accepted, options)
        const model = modelPlan(accepted)
        expect(plan.requests).toEqual(model.requests)
        expect(plan.routes).toEqual(model.routes)
        accepted.forEach((entry, index) => {
          if (!('rejected' in entry)) expect(plan.routes[index]).toBe(plan.routes[model.winner[index]])
        })
      }),
      { numRuns: 3000 }
    )
  })
})
