/**
 * §A6: each measured fault of Segment's existing LaunchDarkly Audiences destination, and proof
 * that this destination does the right thing instead. Driven through actions-core's runner with
 * the preset subscription, as Segment would.
 */
import nock from 'nock'
import { Destination, type JSONObject, type Result, type SegmentEvent } from '@segment/actions-core'
import definition from '../../src/destination'
import type { SegmentAudiencesBody } from '../../src/destination/syncAudience/requests'
import { API, identifyEvent, runnerSettings, TARGET_PATH, trackEvent } from './helpers'
import { useNock } from './nock'

const destination = new Destination(definition)

useNock()

interface Receiver {
  bodies: SegmentAudiencesBody[]
  peakInFlight: () => number
}

/** A nock receiver answering 204 after `delayMs`, recording bodies and concurrency. */
function receiver(delayMs = 0): Receiver {
  const bodies: SegmentAudiencesBody[] = []
  let inFlight = 0
  let peak = 0
  nock(API)
    .post(TARGET_PATH)
    .times(100)
    .reply(async (_uri, body) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      bodies.push(body as SegmentAudiencesBody)
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      inFlight--
      return [204]
    })
  return { bodies, peakInFlight: () => peak }
}

async function statuses(events: SegmentEvent[], mapping: JSONObject = {}): Promise<Array<number>> {
  const [result]: Result[] = await destination.onBatch(events, runnerSettings({}, mapping))
  return (result.multistatus ?? []).map((entry) => entry.status)
}

describe('§A6 faults of the existing destination', () => {
  it('an event without a userId under user_id_only is rejected, not sent keyless and reported as success', async () => {
    const sink = receiver()
    const [result] = await destination.onBatch(
      [identifyEvent({ userId: null, anonymousId: 'anon-7' }), identifyEvent({ userId: 'user-2' })],
      runnerSettings()
    )
    expect(sink.bodies.flatMap((b) => b.batch.map((m) => m.userId))).toEqual(['user-2'])
    expect(result.multistatus?.[0]).toMatchObject({
      status: 400,
      errormessage: expect.stringMatching(/no context key/)
    })
    expect(result.multistatus?.[1]).toMatchObject({ status: 204 })
  })

  it('membership "false" (a string) is rejected, not sent as an add', async () => {
    const sink = receiver()
    expect(await statuses([identifyEvent({ value: 'false' }), trackEvent({ value: 'false' })])).toEqual([
      400, 400
    ])
    expect(sink.bodies).toEqual([])
  })

  it('missing membership is rejected, not sent as a remove', async () => {
    const sink = receiver()
    expect(await statuses([identifyEvent({ value: undefined }), trackEvent({ value: undefined })])).toEqual([
      400, 400
    ])
    expect(sink.bodies).toEqual([])
  })

  it('duplicates in one batch are sent once, with the last membership, and all share its outcome', async () => {
    const sink = receiver()
    const events = [
      identifyEvent({ userId: 'user-1', value: true }),
      trackEvent({ userId: 'user-1', value: false }),
      identifyEvent({ userId: 'user-1', value: true })
    ]
    expect(await statuses(events)).toEqual([204, 204, 204])
    expect(sink.bodies).toHaveLength(1)
    expect(sink.bodies[0].batch).toEqual([
      { userId: 'user-1', cohortName: 'Ld segment test', cohortId: 'aud_1', value: true }
    ])
  })

  it('events of two context kinds for one audience go out under their own kinds', async () => {
    const sink = receiver()
    const org = identifyEvent({ userId: 'org-1' })
    org.context = { ...org.context, groupId: 'org-1' }
    const byGroup = {
      context_kind: {
        '@if': { exists: { '@path': '$.context.groupId' }, then: 'organization', else: 'user' }
      }
    }
    expect(await statuses([identifyEvent({ userId: 'user-1' }), org], byGroup)).toEqual([204, 204])
    const kinds = Object.fromEntries(sink.bodies.map((b) => [b.contextKind, b.batch.map((m) => m.userId)]))
    expect(kinds).toEqual({ user: ['user-1'], organization: ['org-1'] })
  })

  it('audiences share requests, and no more than 4 requests are in flight at once', async () => {
    const shared = receiver()
    const audiences = ['a', 'b', 'c'].map((k) => ({ audienceKey: `aud_${k}`, audienceId: `id_${k}` }))
    await statuses(audiences.map((a, i) => identifyEvent({ ...a, userId: `user-${i}` })))
    expect(shared.bodies).toHaveLength(1)
    expect(shared.bodies[0].batch.map((m) => m.cohortId)).toEqual(['id_a', 'id_b', 'id_c'])
    nock.cleanAll()

    const slow = receiver(25)
    const events = Array.from({ length: 12 }, (_, i) =>
      identifyEvent({ ...audiences[i % 3], userId: `user-${i}` })
    )
    expect(await statuses(events, { batch_size: 1 })).toEqual(Array(12).fill(204))
    expect(slow.bodies).toHaveLength(12)
    expect(slow.peakInFlight()).toBe(4)
  })
})
