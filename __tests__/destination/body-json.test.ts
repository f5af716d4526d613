import fc from 'fast-check'
import { segmentAudiencesJson } from '../../src/destination/syncAudience/body-json'
import type { SegmentAudiencesBody } from '../../src/destination/syncAudience/requests'

/** Strings of every kind JSON.stringify treats apart: quotes, backslashes, controls, lone and paired surrogates. */
const awkwardString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({
    unit: fc.constantFrom('a', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\ud800', '\udc00', 'é', '😀')
  }),
  fc.constantFrom('', 'user-1', 'Bench users', 'beta-testers')
)

const body: fc.Arbitrary<SegmentAudiencesBody> = fc.record({
  environmentId: awkwardString,
  contextKind: awkwardString,
  batch: fc.array(
    fc.record({
      // Few cohorts, so that members share (and, with a second name under one ID, vary) their cohort's part.
      userId: awkwardString,
      cohortName: fc.constantFrom('Bench users', 'Bench "trials"', 'x\ud800'),
      cohortId: fc.constantFrom('bench-users', 'bench\\trials'),
      value: fc.boolean()
    }),
    { maxLength: 30 }
  )
})

describe('segmentAudiencesJson', () => {
  it('writes the very text JSON.stringify writes, for any strings', () => {
    fc.assert(
      fc.property(body, (b) => {
        expect(segmentAudiencesJson(b)).toBe(JSON.stringify(b))
      }),
      { numRuns: 2000 }
    )
  })

  it('writes a body far larger than its first guess at the size, keys of every kind included', () => {
    const keys = ['a', 'é', '😀', '"', '\\', '\n', '\ud800', '\u007f'].map((unit) => unit.repeat(1000))
    const big = {
      environmentId: 'client-1',
      contextKind: 'user',
      batch: Array.from({ length: 200 }, (_, i) => ({
        userId: `${keys[i % keys.length]}-${i}`,
        cohortName: `Cohort ${i % 3} ✓`,
        cohortId: `c${i % 3}`,
        value: i % 2 === 0
      }))
    }
    expect(segmentAudiencesJson(big)).toBe(JSON.stringify(big))
  })

  it('writes an empty batch as JSON.stringify does', () => {
    const empty = { environmentId: 'client-1', contextKind: 'user', batch: [] }
    expect(segmentAudiencesJson(empty)).toBe('{"environmentId":"client-1","contextKind":"user","batch":[]}')
  })

  it('takes a cohort ID whose name changes within a batch at each member’s own name', () => {
    const b = {
      environmentId: 'client-1',
      contextKind: 'user',
      batch: [
        { userId: 'u1', cohortName: 'First name', cohortId: 'c1', value: true },
        { userId: 'u2', cohortName: 'Second name', cohortId: 'c1', value: false },
        { userId: 'u3', cohortName: 'First name', cohortId: 'c1', value: true }
      ]
    }
    expect(JSON.parse(segmentAudiencesJson(b))).toEqual(b)
    expect(segmentAudiencesJson(b)).toBe(JSON.stringify(b))
  })
})
