/**
 * §A7: field for field as Segment's LaunchDarkly Audiences destination (segmentio/action-destinations,
 * `launchdarkly-audiences`), and on the wire the very bytes it sends wherever its behaviour is not
 * one of §A6's faults. The expected values below are Segment's, written out.
 */
import { Destination, fieldsToJsonSchema, type JSONObject } from '@segment/actions-core'
import definition from '../../src/destination'
import { fields } from '../../src/destination/syncAudience'
import type { Settings } from '../../src/destination/generated-types'
import { identifyEvent, presetSubscription, SYNC_AUDIENCE_FIELD_KEYS, trackEvent } from './helpers'
import { startLocalReceiver, type LocalReceiver } from './local-receiver'

/** The fields Segment's action hides from the mapping editor. */
const HIDDEN_BY_SEGMENT = [
  'segment_audience_id',
  'segment_audience_key',
  'segment_computation_action',
  'segment_user_id',
  'segment_anonymous_id',
  'user_email',
  'traits_or_props',
  'audience_action'
]

describe("the definition, field for field as Segment's", () => {
  it("has Segment's name, slug, mode and settings, plus the optional apiBaseUrl, and no instance", () => {
    expect(definition).toMatchObject({
      name: 'LaunchDarkly Audiences',
      slug: 'actions-launchdarkly-audiences',
      mode: 'cloud'
    })
    const settings = definition.authentication?.fields ?? {}
    expect(Object.keys(settings)).toEqual(['apiKey', 'clientId', 'apiBaseUrl'])
    expect(settings.apiKey).toMatchObject({
      label: 'LaunchDarkly Service Token',
      type: 'password',
      required: true
    })
    expect(settings.clientId).toMatchObject({
      label: 'LaunchDarkly client-side ID',
      type: 'string',
      required: true
    })
    expect(settings.apiBaseUrl).toMatchObject({ type: 'string', format: 'uri' })
    expect(settings.apiBaseUrl.required).toBeFalsy()
    expect(settings.apiBaseUrl.description).toMatch(/service token is sent to this host/)
  })

  it('validates settings saved with the instance setting of earlier versions, which it ignores', async () => {
    const destination = new Destination(definition)
    const saved = { apiKey: 'k', clientId: 'c', instance: 'eu' } as unknown as Settings
    expect(() => destination.validateSettings(saved)).not.toThrow()
  })

  it("keeps Segment's field keys, in its order, with batch_size added at the end", () => {
    expect(Object.keys(fields)).toEqual(SYNC_AUDIENCE_FIELD_KEYS)
  })

  it.each([
    ['segment_audience_id', 'Audience ID', 'string', true, { '@path': '$.context.personas.computation_id' }],
    [
      'segment_audience_key',
      'Audience Key',
      'string',
      true,
      { '@path': '$.context.personas.computation_key' }
    ],
    [
      'segment_computation_action',
      'Segment Computation Action',
      'string',
      true,
      { '@path': '$.context.personas.computation_class' }
    ],
    ['context_kind', 'Context kind', 'string', true, 'user'],
    ['segment_user_id', 'Segment User ID', 'string', false, { '@path': '$.userId' }],
    ['segment_anonymous_id', 'Segment Anonymous ID', 'string', false, { '@path': '$.anonymousId' }],
    [
      'user_email',
      'Email address',
      'string',
      false,
      {
        '@if': {
          exists: { '@path': '$.traits.email' },
          then: { '@path': '$.traits.email' },
          else: { '@path': '$.context.traits.email' }
        }
      }
    ],
    ['context_key', 'Context key', 'string', true, 'user_id_only'],
    [
      'traits_or_props',
      'Traits or properties object',
      'object',
      true,
      {
        '@if': {
          exists: { '@path': '$.properties' },
          then: { '@path': '$.properties' },
          else: { '@path': '$.traits' }
        }
      }
    ],
    ['enable_batching', 'Batch events', 'boolean', false, true],
    ['audience_action', 'Audience Action', 'string', false, undefined]
  ])('%s: label %j, type %s, required %s, default %j', (key, label, type, required, defaultValue) => {
    const field = fields[key]
    expect({
      label: field.label,
      type: field.type,
      required: field.required === true,
      default: field.default
    }).toEqual({ label, type, required, default: defaultValue })
  })

  it('hides exactly the fields Segment hides', () => {
    expect(Object.keys(fields).filter((key) => fields[key].unsafe_hidden)).toEqual(HIDDEN_BY_SEGMENT)
  })

  it("offers Segment's choices, in its order and with its labels", () => {
    expect(fields.segment_computation_action.choices).toEqual([
      { label: 'audience', value: 'audience' },
      { label: 'journey_step', value: 'journey_step' }
    ])
    expect(fields.context_key.choices).toEqual([
      { value: 'user_id_then_email', label: 'Use Segment UserId or email' },
      { value: 'user_id_then_anonymousId', label: 'Use Segment UserId or Segment AnonymousId' },
      {
        value: 'user_id_then_email_then_anonymousId',
        label: 'Use Segment UserId or email or Segment AnonymousId'
      },
      { value: 'user_id_only', label: 'Use Segment UserId only' },
      { value: 'email_only', label: 'Use email only' }
    ])
    expect(fields.audience_action.choices).toEqual([
      { label: 'ADD', value: 'ADD' },
      { label: 'REMOVE', value: 'REMOVE' }
    ])
  })

  it("keeps Segment's preset, its mapping being the fields' defaults", () => {
    expect(definition.presets).toEqual([
      {
        name: 'Sync Engage Audience to LaunchDarkly',
        type: 'automatic',
        subscribe: 'type = "identify" or type = "track"',
        partnerAction: 'syncAudience',
        mapping: expect.objectContaining({
          context_kind: 'user',
          context_key: 'user_id_only',
          enable_batching: true
        })
      }
    ])
  })
})

describe('batch_size, declared as action-destinations’ batching actions declare it', () => {
  it('is a number from 1 to 10000, default 1000, whose description says Segment sizes batches by it', () => {
    expect(fields.batch_size).toMatchObject({ type: 'number', default: 1000, minimum: 1, maximum: 10000 })
    expect(fields.batch_size.description).toMatch(/Segment's platform reads this field to size the batches/)
    expect(fieldsToJsonSchema({ batch_size: fields.batch_size }).properties?.batch_size).toMatchObject({
      minimum: 1,
      maximum: 10000
    })
  })

  it.each([0, -1, 10001])(
    'a saved %i does not validate: the event fails validation, nothing is sent',
    async (size) => {
      const destination = new Destination(definition)
      const settings = {
        apiKey: 'k',
        clientId: 'c',
        apiBaseUrl: 'http://127.0.0.1:9',
        subscriptions: [
          { ...presetSubscription, mapping: { ...presetSubscription.mapping, batch_size: size } }
        ]
      } as unknown as JSONObject
      const error = await destination.onEvent(identifyEvent(), settings).catch((e: unknown) => e)
      expect(error).toMatchObject({
        status: 400,
        message: expect.stringMatching(
          size > 0
            ? /^Batch size must be equal to or less than 10000\.$/
            : /^Batch size must be equal to or greater than 1\.$/
        )
      })
    }
  )
})

describe('on the wire: the bytes Segment sends', () => {
  const TOKEN = 'api-wire-token'
  const CLIENT_ID = 'wire-client-id'
  let server: LocalReceiver
  let settings: Settings
  const destination = new Destination<Settings>(definition)

  beforeEach(async () => {
    server = await startLocalReceiver({ token: TOKEN, clientId: CLIENT_ID })
    settings = { apiKey: TOKEN, clientId: CLIENT_ID, apiBaseUrl: server.baseUrl }
  })
  afterEach(() => server.close())

  function withPreset(): JSONObject {
    return { ...settings, subscriptions: [presetSubscription] } as unknown as JSONObject
  }

  /**
   * Segment's four headers as the request client sends them (lowercased and sorted by name, so the
   * order they are declared in does not reach the wire), before the ones fetch adds.
   */
  const SEGMENT_HEADER_LINES = [
    'authorization: api-wire-token',
    'content-type: application/json',
    'ld-api-version: 20240415',
    'user-agent: SegmentSyncAudiences/1.1.0'
  ]

  /** Header lines as sent, minus Host (the port changes). */
  /**
   * Every header line but Host and Connection: those two are the transport's (Connection follows the
   * HTTP agent the process happens to have, keep-alive or not), not the destination's.
   */
  function headerLines(rawHeaders: string[]): string[] {
    const lines: string[] = []
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toLowerCase()
      if (name !== 'host' && name !== 'connection') lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`)
    }
    return lines
  }

  it('one event: the body and every header line, in order', async () => {
    await destination.onEvent(
      trackEvent({ userId: 'user1234', value: true, audienceKey: 'VIP_Users' }),
      withPreset()
    )
    const [request] = server.received
    expect(request.rawBody).toBe(
      '{"environmentId":"wire-client-id","contextKind":"user","batch":[{"userId":"user1234","cohortName":"VIP Users","cohortId":"aud_1","value":true}]}'
    )
    expect(headerLines(request.rawHeaders)).toEqual([
      ...SEGMENT_HEADER_LINES,
      'Accept: */*',
      `Content-Length: ${Buffer.byteLength(request.rawBody)}`,
      'Accept-Encoding: gzip,deflate'
    ])
  })

  it('a batch of one audience and one kind: its members in event order, as Segment sends them', async () => {
    const [result] = await destination.onBatch(
      [
        identifyEvent({ userId: 'ada', value: true, audienceKey: 'High_Value__Users' }),
        trackEvent({ userId: 'bob', value: false, audienceKey: 'High_Value__Users' }),
        identifyEvent({ userId: 'cy', value: true, audienceKey: 'High_Value__Users' })
      ],
      withPreset()
    )
    expect(result.multistatus?.map((s) => s.status)).toEqual([204, 204, 204])
    expect(server.received.map((r) => r.rawBody)).toEqual([
      JSON.stringify({
        environmentId: CLIENT_ID,
        contextKind: 'user',
        batch: [
          { userId: 'ada', cohortName: 'High Value  Users', cohortId: 'aud_1', value: true },
          { userId: 'bob', cohortName: 'High Value  Users', cohortId: 'aud_1', value: false },
          { userId: 'cy', cohortName: 'High Value  Users', cohortId: 'aud_1', value: true }
        ]
      })
    ])
  })

  it('testAuthentication: a HEAD for the client-side ID and a GET of versions, with the same headers', async () => {
    await destination.testAuthentication(settings)
    const checks = server.checks.map((c) => ({
      method: c.method,
      path: c.path,
      headers: headerLines(c.rawHeaders)
    }))
    const headers = [
      ...SEGMENT_HEADER_LINES,
      'Accept: */*',
      'Accept-Encoding: gzip,deflate'
    ]
    expect(checks.sort((a, b) => a.method.localeCompare(b.method))).toEqual([
      { method: 'GET', path: '/api/v2/versions', headers },
      { method: 'HEAD', path: `/sdk/goals/${CLIENT_ID}`, headers }
    ])
  })
})
