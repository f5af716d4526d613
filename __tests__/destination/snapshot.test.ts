/**
 * Snapshots of exactly what goes over the wire (body and headers) for the three shapes of traffic
 * Engage produces. Review the .snap file on every change: it is the contract with the receiver.
 */
import { Destination, type SegmentEvent } from '@segment/actions-core'
import definition from '../../src/destination'
import { identifyEvent, runnerSettings, trackEvent, type CapturedRequest } from './helpers'
import { recordSegmentAudiences, useNock } from './nock'

const destination = new Destination(definition)

useNock()

/** One event through `onEvent` (the perform path), as Segment sends it without batching. */
async function sendOne(event: SegmentEvent): Promise<CapturedRequest[]> {
  const captured = recordSegmentAudiences()
  await destination.onEvent(event, runnerSettings())
  return captured
}

describe('outgoing requests', () => {
  it('identify: a user entered an audience', async () => {
    expect(
      await sendOne(identifyEvent({ userId: 'user-1', email: 'ada@example.com', value: true }))
    ).toMatchSnapshot()
  })

  it('track: a user exited an audience', async () => {
    expect(await sendOne(trackEvent({ userId: 'user-2', value: false }))).toMatchSnapshot()
  })

  it('a mixed batch: several audiences, two context kinds, duplicates and a rejected event', async () => {
    const vip = { audienceKey: 'vip_customers', audienceId: 'aud_vip' }
    const events: SegmentEvent[] = [
      identifyEvent({ userId: 'user-1', value: true, messageId: 'm1' }),
      trackEvent({ ...vip, userId: 'user-2', value: true, messageId: 'm2' }),
      // organization-kind members arrive with a groupId; the mapping below routes them.
      {
        ...identifyEvent({ ...vip, userId: 'org-9', value: true, messageId: 'm3' }),
        context: { ...identifyEvent(vip).context, groupId: 'org-9' }
      },
      identifyEvent({ userId: 'user-3', value: 'false', messageId: 'm4' }),
      trackEvent({ userId: 'user-1', value: false, messageId: 'm5' }),
      trackEvent({ ...vip, userId: 'user-4', value: false, messageId: 'm6' })
    ]
    const captured = recordSegmentAudiences()
    const [result] = await destination.onBatch(
      events,
      runnerSettings(
        {},
        {
          context_kind: {
            '@if': { exists: { '@path': '$.context.groupId' }, then: 'organization', else: 'user' }
          }
        }
      )
    )
    expect(captured).toMatchSnapshot()
    expect(result.multistatus?.map((entry) => entry.status)).toEqual([204, 204, 204, 400, 204, 204])
  })
})
