import { SEGMENT_AUDIENCES_PATH } from '../../src/destination/constants'
import { replayEvents, type ReplayRequest } from '../../src/replay'
import { startRecorder, type Recorder } from './http-recorder'
import { BETA_TESTERS, identify, page, POWER_USERS, records, track } from './events'

const settingsFor = (recorder: Recorder) => ({ apiKey: 'api-token-1', clientId: 'client-side-1', apiBaseUrl: recorder.url })

describe('replayEvents', () => {
  let recorder: Recorder | undefined
  afterEach(async () => {
    await recorder?.close()
    recorder = undefined
  })

  it("runs events through the preset and sums up what happened to each", async () => {
    recorder = await startRecorder()
    const summary = await replayEvents(
      records([
        identify('ada', POWER_USERS, true),
        track('grace', POWER_USERS, true),
        track('ada', BETA_TESTERS, false),
        identify(undefined, POWER_USERS, true),
        identify('linus', BETA_TESTERS, 'false'),
        'invalid JSON: Unexpected end of JSON input',
        page('ada')
      ]),
      { settings: settingsFor(recorder), batchSize: 100 }
    )

    expect(summary).toMatchObject({ eventsRead: 6, malformedLines: 1, batches: 1, delivered: 3, requests: 1, dryRun: false })
    expect(summary.malformedSamples).toEqual([{ line: 6, error: 'invalid JSON: Unexpected end of JSON input' }])
    expect(summary.requestStatuses).toEqual({ 204: 1 })
    expect(summary.rejected).toHaveLength(3)
    expect(summary.rejected.every((r) => r.status === 400 && r.count === 1)).toBe(true)
    const reasons = summary.rejected.map((r) => r.reason).join('\n')
    expect(reasons).toMatch(/segment_user_id is missing/)
    expect(reasons).toMatch(/"false" \(string\)/)
    expect(reasons).toMatch(/does not match the subscription/)
    expect(summary.cohorts).toEqual([
      { contextKind: 'user', cohortId: 'aud_power', cohortName: 'Power users', added: 2, removed: 0 },
      { contextKind: 'user', cohortId: 'aud_beta', cohortName: 'Beta testers', added: 0, removed: 1 }
    ])

    // What went over the wire is the destination's request, with its headers.
    expect(recorder.received).toHaveLength(1)
    const [request] = recorder.received
    expect(request.method).toBe('POST')
    expect(request.url).toBe(SEGMENT_AUDIENCES_PATH)
    expect(request.headers.authorization).toBe('api-token-1')
    expect(request.body).toEqual({
      environmentId: 'client-side-1',
      contextKind: 'user',
      batch: [
        { userId: 'ada', cohortName: 'Power users', cohortId: 'aud_power', value: true },
        { userId: 'grace', cohortName: 'Power users', cohortId: 'aud_power', value: true },
        { userId: 'ada', cohortName: 'Beta testers', cohortId: 'aud_beta', value: false }
      ]
    })
  })

  it("reports a failed request's status and message for its events, and only for them", async () => {
    recorder = await startRecorder(() => ({ status: 409, body: { code: 'conflict', message: 'segment has another context kind' } }))
    const summary = await replayEvents(records([identify('ada', POWER_USERS, true), identify(undefined, POWER_USERS, true)]), {
      settings: settingsFor(recorder),
      batchSize: 10
    })
    expect(summary.requestStatuses).toEqual({ 409: 1 })
    expect(summary.delivered).toBe(0)
    expect(summary.cohorts).toEqual([])
    const conflict = summary.rejected.find((r) => r.status === 409)
    expect(conflict?.count).toBe(1)
    expect(conflict?.reason).toContain('segment has another context kind')
    expect(summary.rejected.find((r) => r.status === 400)?.count).toBe(1)
  })

  it('never lets a later batch overtake an earlier one, however slow the earlier answer', async () => {
    // The earliest requests are answered slowest: anything concurrent across batches would overtake.
    recorder = await startRecorder((_request, index) => ({ status: 204, delayMs: Math.max(0, 200 - index * 50) }))
    const events = [
      identify('ada', POWER_USERS, true),
      identify('grace', POWER_USERS, true),
      track('ada', POWER_USERS, false),
      track('linus', POWER_USERS, true),
      identify('ada', POWER_USERS, true),
      identify('grace', POWER_USERS, false),
      track('ada', POWER_USERS, false),
      track('grace', POWER_USERS, true)
    ]
    const progress: number[] = []
    const summary = await replayEvents(records(events), {
      settings: settingsFor(recorder),
      batchSize: 2,
      onProgress: (p) => progress.push(p.eventsRead)
    })

    expect(summary.batches).toBe(4)
    expect(progress).toEqual([2, 4, 6, 8])
    const received = recorder.received
    expect(received).toHaveLength(4)
    for (let i = 1; i < received.length; i++) {
      expect(received[i].receivedAt).toBeGreaterThanOrEqual(received[i - 1].answeredAt as number)
    }
    // Requests arrive in event order: batch i carries events 2i and 2i+1.
    const sent = received.flatMap((r) => (r.body as { batch: Array<{ userId: string; value: boolean }> }).batch)
    expect(sent.map((m) => [m.userId, m.value])).toEqual(events.map((e) => [e.userId, e.traits?.power_users ?? e.properties?.power_users]))
  })

  it("lays a mapping over the preset's, e.g. another context kind", async () => {
    recorder = await startRecorder()
    const summary = await replayEvents(records([identify('org-acme', POWER_USERS, true)]), {
      settings: settingsFor(recorder),
      batchSize: 10,
      mapping: { context_kind: 'organization' }
    })
    expect((recorder.received[0].body as { contextKind: string }).contextKind).toBe('organization')
    expect(summary.cohorts[0].contextKind).toBe('organization')
  })

  it('counts a batch the subscription does not match at all as not subscribed, sending nothing', async () => {
    recorder = await startRecorder()
    const summary = await replayEvents(records([page('ada'), page('grace')]), { settings: settingsFor(recorder), batchSize: 10 })
    expect(summary.requests).toBe(0)
    expect(summary.rejected).toEqual([{ status: 400, reason: expect.stringContaining('subscription'), count: 2 }])
    expect(recorder.received).toHaveLength(0)
  })

  it('fails before sending anything when the base URL is not an absolute http(s) URL', async () => {
    const requests: ReplayRequest[] = []
    for (const dryRun of [false, true]) {
      await expect(
        replayEvents(records([identify('ada', POWER_USERS, true)]), {
          settings: { apiKey: 'k', clientId: 'c', apiBaseUrl: 'ftp://example.test' },
          batchSize: 10,
          dryRun,
          onRequest: (r) => requests.push(r)
        })
      ).rejects.toThrow(/absolute http\(s\) URL/)
    }
    expect(requests).toEqual([])
  })

  it('rejects a batch size that is not a positive integer', async () => {
    await expect(
      replayEvents(records([]), { settings: { apiKey: 'k', clientId: 'c' }, batchSize: 0 })
    ).rejects.toThrow(RangeError)
  })

  describe('dry run', () => {
    it('builds the same requests but sends nothing to the configured base URL', async () => {
      recorder = await startRecorder()
      const requests: ReplayRequest[] = []
      const events = [identify('ada', POWER_USERS, true), track('grace', BETA_TESTERS, false), identify(undefined, POWER_USERS, true)]
      const summary = await replayEvents(records(events), {
        settings: settingsFor(recorder),
        batchSize: 10,
        dryRun: true,
        onRequest: (r) => requests.push(r)
      })
      expect(recorder.received).toHaveLength(0)
      expect(summary.dryRun).toBe(true)
      expect(summary.requests).toBe(1)
      expect(requests).toEqual([
        {
          method: 'POST',
          url: `${recorder.url}${SEGMENT_AUDIENCES_PATH}`,
          status: 204,
          body: {
            environmentId: 'client-side-1',
            contextKind: 'user',
            batch: [
              { userId: 'ada', cohortName: 'Power users', cohortId: 'aud_power', value: true },
              { userId: 'grace', cohortName: 'Beta testers', cohortId: 'aud_beta', value: false }
            ]
          }
        }
      ])

      // The same events really sent produce the very same body.
      await replayEvents(records(events), { settings: settingsFor(recorder), batchSize: 10 })
      expect(recorder.received.map((r) => r.body)).toEqual(requests.map((r) => r.body))
    })

    it("reports LaunchDarkly's URL when no base URL is given", async () => {
      const requests: ReplayRequest[] = []
      await replayEvents(records([identify('ada', POWER_USERS, true)]), {
        settings: { apiKey: 'k', clientId: 'c' },
        batchSize: 10,
        dryRun: true,
        onRequest: (r) => requests.push(r)
      })
      expect(requests.map((r) => r.url)).toEqual([`https://app.launchdarkly.com${SEGMENT_AUDIENCES_PATH}`])
    })
  })
})
