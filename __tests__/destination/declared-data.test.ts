/**
 * In the style of action-destinations' generic snapshot test: for every action, settings and a
 * mapping made only from the declarations (declared-data.ts), run through actions-core's test
 * integration, perform and performBatch alike. That data fills the membership and the context kind
 * at random, so an event may be rejected, but only for §A3's reasons; anything else (settings that
 * do not validate, a thrown error, a request the event did not ask for) is a fault of the
 * declarations. With the template's own overrides (a boolean membership, a fixed kind and context
 * key), every event is sent, exactly as Segment's destination would send it.
 */
import fc from 'fast-check'
import nock from 'nock'
import {
  createTestEvent,
  createTestIntegration,
  PayloadValidationError,
  type ActionDefinition,
  type DestinationDefinition,
  type JSONObject
} from '@segment/actions-core'
import definition, { LD_API_VERSION, USER_AGENT } from '../../src/destination'
import type { Settings } from '../../src/destination/generated-types'
import { mappingFor, settingsFor } from './declared-data'
import { useNock } from './nock'

const testDestination = createTestIntegration(definition)
const declared = definition as unknown as DestinationDefinition<unknown>
const actions = Object.entries(definition.actions) as Array<[string, ActionDefinition<unknown, unknown>]>

useNock()

/**
 * §A3's per-event rejections of the template's random data: a membership that is not a boolean, a
 * context kind LaunchDarkly refuses, and (required fields only, where the template leaves the email
 * out) no identifier for the chosen context key.
 */
const SECTION_A3_REJECTIONS = [
  /^membership traits_or_props\[.*\] must be true or false; got /,
  /^context_kind "[^]*" is (invalid|reserved)/,
  /^no context key: context_key is "[a-z_A-Z]+" and .* missing or empty$/,
  // §A8, the same rule for warehouse rows: membership follows from the event name and the sync
  // mode, which the template's random data leaves unset or names at random.
  /^no sync mode is set, so no membership follows for the row /,
  /^no membership follows for event .* under sync mode "(add|upsert|delete|mirror)"/
]

interface Sent {
  url: string
  body: string
  headers: Record<string, string>
}

function headersOf(headers: { forEach(callback: (value: string, name: string) => void): void }) {
  const all: Record<string, string> = {}
  headers.forEach((value, name) => (all[name] = value))
  return all
}

/** What the action sent, as the template reads it: from the responses the test integration kept. */
async function sentBy(responses: Awaited<ReturnType<typeof testDestination.testAction>>): Promise<Sent[]> {
  return Promise.all(
    responses.map(async ({ request }) => ({
      url: request.url,
      body: await request.text(),
      headers: headersOf(request.headers)
    }))
  )
}

type Outcome = { sent: Sent[] } | { rejected: string[] }

/** One event through perform and the same event, twice, through performBatch: the same outcome. */
async function run(
  slug: string,
  settings: Record<string, unknown>,
  mapping: Record<string, unknown>
): Promise<Outcome> {
  // A generated apiBaseUrl must pass actions-core's settings validation, as Segment's runner applies it.
  expect(() => testDestination.validateSettings(settings as unknown as Settings)).not.toThrow()
  nock(/.*/).persist().post(/.*/).reply(204)
  const input = { mapping: mapping as JSONObject, settings: settings as unknown as Settings }
  const event = createTestEvent({ properties: mapping as JSONObject })
  testDestination.responses = []
  const single = await testDestination
    .testAction(slug, { ...input, event })
    .then(sentBy, (error: unknown) => error)
  testDestination.responses = []
  const batch = await sentBy(
    await testDestination.testBatchAction(slug, { ...input, events: [event, event] })
  )
  const statuses = testDestination.results[0].multistatus ?? []
  nock.cleanAll()

  if (Array.isArray(single)) {
    expect(single).toHaveLength(1)
    // The duplicate collapses: one member, in one request, the same as perform's.
    expect(batch).toEqual(single)
    expect(statuses.map((s) => s.status)).toEqual([204, 204])
    return { sent: single }
  }
  expect(single).toBeInstanceOf(PayloadValidationError)
  const reason = (single as Error).message
  expect(batch).toEqual([])
  expect(statuses).toEqual([
    expect.objectContaining({ status: 400, errormessage: reason }),
    expect.objectContaining({ status: 400, errormessage: reason })
  ])
  return { rejected: [reason] }
}

function expectOnlySectionA3Rejections(outcome: Outcome): void {
  if ('rejected' in outcome) {
    for (const reason of outcome.rejected) {
      expect(SECTION_A3_REJECTIONS.some((pattern) => pattern.test(reason))).toBe(true)
    }
  }
}

/** The four headers Segment's destination sets, and no other header of the action's. */
function expectSegmentHeaders(sent: Sent, apiKey: string): void {
  expect(sent.headers).toEqual({
    'user-agent': USER_AGENT,
    'content-type': 'application/json',
    authorization: apiKey,
    'ld-api-version': LD_API_VERSION
  })
}

describe.each(actions)('%s, with data made from its declarations', (slug, action) => {
  describe.each([
    ['required fields', true],
    ['all fields', false]
  ])('%s', (_label, requiredOnly) => {
    const data = fc.tuple(settingsFor(declared), mappingFor(action, requiredOnly))

    it('with a fixed seed, as the template runs: the same outcome every time', async () => {
      const [[settings, mapping]] = fc.sample(data, { seed: 20261201, numRuns: 1 })
      const outcome = await run(slug, settings, mapping)
      expectOnlySectionA3Rejections(outcome)
      expect(outcome).toMatchSnapshot()
    })

    it("for any such data, every event is sent or rejected only for §A3's reasons", async () => {
      await fc.assert(
        fc.asyncProperty(data, async ([settings, mapping]) => {
          expectOnlySectionA3Rejections(await run(slug, settings, mapping))
        }),
        { numRuns: 20 }
      )
    })
  })
})

describe("syncAudience with the template's overrides: membership a boolean, kind and context key fixed", () => {
  const action = definition.actions.syncAudience as ActionDefinition<unknown, unknown>
  const data = fc.tuple(settingsFor(declared), mappingFor(action, false), fc.boolean())

  it('is always sent, one member, byte for byte the body Segment sends, with its headers', async () => {
    await fc.assert(
      fc.asyncProperty(data, async ([settings, mapping, member]) => {
        const overridden: Record<string, unknown> = {
          ...mapping,
          segment_audience_key: 'test_audience',
          segment_computation_action: 'audience',
          traits_or_props: { test_audience: member },
          context_kind: 'customContextKind',
          context_key: 'user_id_only'
        }
        const outcome = await run('syncAudience', settings, overridden)
        if (!('sent' in outcome)) throw new Error(`rejected: ${outcome.rejected.join('; ')}`)
        const [sent] = outcome.sent
        expect(sent.body).toBe(
          JSON.stringify({
            environmentId: settings.clientId,
            contextKind: 'customContextKind',
            batch: [
              {
                userId: overridden.segment_user_id,
                cohortName: 'Test audience',
                cohortId: overridden.segment_audience_id,
                value: member
              }
            ]
          })
        )
        expect(sent.url).toBe(
          `${String(settings.apiBaseUrl).replace(/\/+$/, '')}/api/v2/segment-targets/segment-audiences`
        )
        expectSegmentHeaders(sent, String(settings.apiKey))
      }),
      { numRuns: 20 }
    )
  })
})
