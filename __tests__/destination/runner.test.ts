/**
 * The destination as Segment runs it: actions-core's own `Destination` runner, the preset's
 * subscription and mapping, real HTTP to a local server (no nock). Guards the known traps: settings
 * validation for a destination name with a space (broken by fast-uri 3.1.x) and liquidjs being
 * required at runtime by actions-core.
 */
import { Destination, IntegrationError, type JSONObject } from '@segment/actions-core'
import definition, { destination as namedDestination, USER_AGENT } from '../../src/destination'
import type { Settings } from '../../src/destination/generated-types'
import { identifyEvent, presetSubscription, trackEvent } from './helpers'
import { startLocalReceiver, type LocalReceiver } from './local-receiver'

const TOKEN = 'api-local-token'
const CLIENT_ID = 'local-client-id'

let server: LocalReceiver
let settings: Settings
const destination = new Destination<Settings>(definition)

beforeEach(async () => {
  server = await startLocalReceiver({ token: TOKEN, clientId: CLIENT_ID, delayMs: 5 })
  settings = { apiKey: TOKEN, clientId: CLIENT_ID, apiBaseUrl: server.baseUrl }
})
afterEach(() => server.close())

/** Settings as Segment passes them: destination settings plus the enabled subscriptions. */
function withPreset(overrides: Partial<Settings> = {}, mapping: JSONObject = {}): JSONObject {
  return {
    ...settings,
    ...overrides,
    subscriptions: [{ ...presetSubscription, mapping: { ...presetSubscription.mapping, ...mapping } }]
  } as unknown as JSONObject
}

describe('the actions-core runner against a local server', () => {
  it('exports the definition both as default and as `destination`', () => {
    expect(namedDestination).toBe(definition)
    expect(definition.name).toBe('LaunchDarkly Audiences')
  })

  it('validates settings of a destination whose name has a space', () => {
    expect(() => destination.validateSettings(settings)).not.toThrow()
    expect(() => destination.validateSettings({ apiKey: TOKEN } as Settings)).toThrow(/clientId/)
  })

  it('tests authentication: valid, bad clientId, bad token', async () => {
    await expect(destination.testAuthentication(settings)).resolves.toBeUndefined()
    await expect(destination.testAuthentication({ ...settings, clientId: 'nope' })).rejects.toThrow(
      /clientId: no LaunchDarkly environment/
    )
    await expect(destination.testAuthentication({ ...settings, apiKey: 'wrong' })).rejects.toThrow(
      /apiKey: LaunchDarkly rejected the service token \(401\)/
    )
  })

  it('syncs a batch of Engage events into segments and reports each event in order', async () => {
    const vip = { audienceKey: 'vip', audienceId: 'aud_vip' }
    const events = [
      identifyEvent({ userId: 'ada', value: true }),
      trackEvent({ userId: 'bob', value: true }),
      identifyEvent({ userId: null, value: true }),
      trackEvent({ ...vip, userId: 'ada', value: true }),
      identifyEvent({ userId: 'bob', value: false }),
      { ...identifyEvent(), type: 'page' as const }
    ]
    const [result] = await destination.onBatch(events, withPreset())
    expect(result.multistatus?.map((entry) => entry.status)).toEqual([204, 204, 400, 204, 204, 400])
    expect(result.multistatus?.[5]).toMatchObject({
      errormessage: 'Payload is either invalid or does not match the subscription'
    })
    expect(Object.fromEntries([...server.segments].map(([key, keys]) => [key, [...keys]]))).toEqual({
      'user/aud_1': ['ada'],
      'user/aud_vip': ['ada']
    })
    expect(server.received).toHaveLength(1)
    expect(server.received[0].headers).toMatchObject({
      authorization: TOKEN,
      'content-type': 'application/json',
      'ld-api-version': '20240415',
      'user-agent': USER_AGENT
    })
  })

  it('runs the perform path for a single event', async () => {
    await destination.onEvent(trackEvent({ userId: 'cy', value: true }), withPreset())
    expect([...(server.segments.get('user/aud_1') ?? [])]).toEqual(['cy'])
  })

  it("surfaces the receiver's error: non-retryable on 409 for perform, per event for a batch", async () => {
    server.failCohort(
      'aud_1',
      409,
      'conflict',
      'segment segment-audiences-aud_1 has context kind organization'
    )
    const error = await destination.onEvent(identifyEvent(), withPreset()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IntegrationError)
    expect(error).toMatchObject({
      status: 409,
      retry: false,
      message: expect.stringMatching(/has context kind organization/)
    })

    const [result] = await destination.onBatch(
      [
        identifyEvent({ userId: 'u1' }),
        identifyEvent({ userId: 'u2', audienceId: 'aud_2', audienceKey: 'other' })
      ],
      withPreset({}, { batch_size: 1 })
    )
    expect(result.multistatus?.map((entry) => entry.status)).toEqual([409, 204])
    expect([...(server.segments.get('user/aud_2') ?? [])]).toEqual(['u2'])
  })

  it('keeps at most 4 requests in flight over real sockets', async () => {
    const events = Array.from({ length: 20 }, (_, i) => identifyEvent({ userId: `user-${i}` }))
    const [result] = await destination.onBatch(events, withPreset({}, { batch_size: 2 }))
    expect(result.multistatus?.every((entry) => entry.status === 204)).toBe(true)
    expect(server.received).toHaveLength(10)
    expect(server.peakInFlight()).toBeLessThanOrEqual(4)
    expect(server.peakInFlight()).toBeGreaterThan(1)
    expect(server.segments.get('user/aud_1')?.size).toBe(20)
  })
})
