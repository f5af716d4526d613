import { replayFailed } from '../../src/cli/replay'
import { formatSummary } from '../../src/replay/format'
import { emptySummary, recordBatchResults, recordMalformed, recordRequest, toReplayRequest } from '../../src/replay/summary'
import { membershipStories, pickChecks } from '../../src/replay/stories'
import { BETA_TESTERS, identify, page, POWER_USERS, track } from './events'

describe('replay summary', () => {
  it("folds the runner's multistatus: successes, and failures grouped by status and reason", () => {
    const summary = emptySummary(false)
    recordBatchResults(
      summary,
      [
        {
          multistatus: [
            { status: 204, body: {}, sent: {} },
            { status: 400, errormessage: 'no context key', errortype: 'PAYLOAD_VALIDATION_FAILED' },
            { status: 400, errormessage: 'no context key', errortype: 'PAYLOAD_VALIDATION_FAILED' },
            { status: 503, errormessage: 'Could not reach LaunchDarkly', errortype: 'SERVICE_UNAVAILABLE' }
          ]
        }
      ] as never,
      4
    )
    expect(summary.batches).toBe(1)
    expect(summary.delivered).toBe(1)
    expect(summary.rejected).toEqual([
      { status: 400, reason: 'no context key', count: 2 },
      { status: 503, reason: 'Could not reach LaunchDarkly', count: 1 }
    ])
    // A network failure is not a data problem: the command must fail.
    expect(replayFailed(summary)).toBe(true)
  })

  it('counts a whole batch as not subscribed when the runner returns no multistatus', () => {
    const summary = emptySummary(false)
    recordBatchResults(summary, [{ output: 'not subscribed' }], 3)
    expect(summary.rejected).toEqual([{ status: 400, reason: expect.stringContaining('subscription'), count: 3 }])
    expect(replayFailed(summary)).toBe(false)
  })

  it('tallies requests per status and cohorts only from accepted requests', () => {
    const summary = emptySummary(false)
    const body = (kind: string, values: boolean[]) =>
      JSON.stringify({
        environmentId: 'e',
        contextKind: kind,
        batch: values.map((value, i) => ({ userId: `u${i}`, cohortId: 'c1', cohortName: 'Cohort one', value }))
      })
    recordRequest(summary, toReplayRequest('post', 'http://x/api', body('user', [true, true, false]), 204))
    recordRequest(summary, toReplayRequest('post', 'http://x/api', body('device', [true]), 204))
    recordRequest(summary, toReplayRequest('post', 'http://x/api', body('user', [true]), 409))
    expect(summary.requests).toBe(3)
    expect(summary.requestStatuses).toEqual({ 204: 2, 409: 1 })
    expect(summary.cohorts).toEqual([
      { contextKind: 'user', cohortId: 'c1', cohortName: 'Cohort one', added: 2, removed: 1 },
      { contextKind: 'device', cohortId: 'c1', cohortName: 'Cohort one', added: 1, removed: 0 }
    ])
    expect(replayFailed(summary)).toBe(true)
  })

  it('keeps the first few malformed lines and counts the rest', () => {
    const summary = emptySummary(false)
    for (let line = 1; line <= 8; line++) recordMalformed(summary, line * 10, 'invalid JSON')
    expect(summary.malformedLines).toBe(8)
    expect(summary.malformedSamples.map((s) => s.line)).toEqual([10, 20, 30, 40, 50])
    const text = formatSummary(summary).join('\n')
    expect(text).toContain('line 50: invalid JSON')
    expect(text).toContain('… and 3 more malformed lines')
  })

  it('renders the summary with counts, statuses and reasons, most frequent first', () => {
    const summary = emptySummary(false)
    summary.eventsRead = 1200
    summary.batches = 2
    summary.delivered = 1197
    summary.rejected = [
      { status: 400, reason: 'rare', count: 1 },
      { status: 400, reason: 'common', count: 2 }
    ]
    summary.requests = 3
    summary.requestStatuses = { 204: 3 }
    summary.cohorts = [{ contextKind: 'user', cohortId: 'aud_1', cohortName: 'Power users', added: 10, removed: 2 }]
    expect(formatSummary(summary)).toEqual([
      '1,200 events read in 2 batches',
      '1,197 events delivered, 3 events not delivered',
      '3 requests sent — statuses: 204 ×3',
      'not delivered:',
      '      2 × 400 common',
      '      1 × 400 rare',
      'segments touched:',
      '  Power users (aud_1, user): +10 −2'
    ])
  })
})

describe('membership stories', () => {
  it("follows each (audience, user) pair's valid events and notes the rejected ones", () => {
    const stories = membershipStories([
      identify('ada', POWER_USERS, true),
      track('ada', POWER_USERS, false),
      identify('grace', POWER_USERS, true),
      identify('ada', POWER_USERS, true),
      identify('grace', POWER_USERS, 'false'),
      identify(undefined, POWER_USERS, false),
      page('ada'),
      track('linus', BETA_TESTERS, true),
      track('linus', BETA_TESTERS, false)
    ])
    expect(stories.map((s) => [s.audienceKey, s.contextKey, s.included])).toEqual([
      ['power_users', 'ada', true],
      ['power_users', 'grace', true],
      ['beta_testers', 'linus', false]
    ])
    expect(stories[1].steps).toEqual([{ value: true }, { invalid: 'membership "false" (a string)' }])

    const checks = pickChecks(stories)
    expect(checks.map((c) => [c.story.contextKey, c.because])).toEqual([
      ['ada', 'entered, exited, entered again'],
      ['linus', 'entered, then exited'],
      ['grace', 'an event with membership "false" (a string) was rejected; the valid ones decide']
    ])
  })
})
