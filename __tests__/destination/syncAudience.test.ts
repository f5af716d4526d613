import nock from 'nock'
import {
  createRequestClient,
  Destination,
  IntegrationError,
  InvalidAuthenticationError,
  PayloadValidationError,
  RetryableError,
  type JSONObject,
  type Result
} from '@segment/actions-core'
import definition from '../../src/destination'
import syncAudience from '../../src/destination/syncAudience'
import {
  API,
  FAILED_REQUEST_ANSWERS,
  identifyEvent,
  payload,
  refusingBaseUrl,
  runnerSettings,
  settings,
  TARGET_PATH,
  trackEvent
} from './helpers'
import { useNock } from './nock'

type ResultMultiStatusNode = NonNullable<Result['multistatus']>[number]

const destination = new Destination(definition)

useNock({ allowHost: '127.0.0.1', requireAllUsed: true })

async function onBatch(events: Parameters<Destination['onBatch']>[0], mapping: JSONObject = {}) {
  const results = await destination.onBatch(events, runnerSettings({}, mapping))
  expect(results).toHaveLength(1)
  return results[0].multistatus as ResultMultiStatusNode[]
}

describe('perform (one event)', () => {
  it('POSTs the member and resolves on 204', async () => {
    const scope = nock(API)
      .post(TARGET_PATH, {
        environmentId: settings.clientId,
        contextKind: 'user',
        batch: [{ userId: 'user-1', cohortName: 'Ld segment test', cohortId: 'aud_1', value: true }]
      })
      .reply(204)
    await expect(destination.onEvent(identifyEvent(), runnerSettings())).resolves.toBeDefined()
    expect(scope.isDone()).toBe(true)
  })

  it.each([429, 500, 502, 503, 504])('throws a RetryableError on %i', async (status) => {
    nock(API).post(TARGET_PATH).reply(status, { code: 'busy', message: 'try later' })
    const error = await destination.onEvent(identifyEvent(), runnerSettings()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RetryableError)
    expect(error).toMatchObject({ status, message: `LaunchDarkly answered ${status}: busy: try later` })
  })

  it.each([401, 403])('throws an InvalidAuthenticationError on %i', async (status) => {
    nock(API).post(TARGET_PATH).reply(status, { code: 'unauthorized', message: 'Invalid access token' })
    const error = await destination.onEvent(identifyEvent(), runnerSettings()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidAuthenticationError)
    expect((error as Error).message).toBe(
      `LaunchDarkly answered ${status}: unauthorized: Invalid access token`
    )
  })

  it.each([
    [400, 'invalid_request', '/batch/0/userId: expected a string or number, got object'],
    [404, 'not_found', 'Unknown integration'],
    [409, 'conflict', 'segment segment-audiences-aud_1 has context kind user']
  ])(
    "throws a non-retryable IntegrationError with the receiver's message on %i",
    async (status, code, message) => {
      nock(API).post(TARGET_PATH).reply(status, { code, message })
      const error = await destination.onEvent(identifyEvent(), runnerSettings()).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(IntegrationError)
      expect(error).not.toBeInstanceOf(RetryableError)
      expect(error).toMatchObject({
        status,
        retry: false,
        message: `LaunchDarkly answered ${status}: ${code}: ${message}`
      })
    }
  )

  it('throws a RetryableError on a network error', async () => {
    const apiBaseUrl = await refusingBaseUrl()
    const error = await destination
      .onEvent(identifyEvent(), runnerSettings({ apiBaseUrl }))
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RetryableError)
    expect(error).toMatchObject({
      status: 503,
      message: expect.stringMatching(/Could not reach LaunchDarkly: .*ECONNREFUSED/)
    })
  })

  it('throws a RetryableError on a timeout', async () => {
    nock(API).post(TARGET_PATH).delay(500).reply(204)
    // The runner's client with a short timeout instead of the 10 s default.
    const request = createRequestClient(definition.extendRequest?.({ settings, payload: undefined }) ?? {}, {
      timeout: 50
    })
    const error = await syncAudience.perform(request, { payload: payload(), settings }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(RetryableError)
    expect(error).toMatchObject({ status: 408, message: expect.stringMatching(/did not answer in time/) })
  })

  it('throws a PayloadValidationError, without sending, for an event it cannot map', async () => {
    const error = await destination
      .onEvent(identifyEvent({ value: 'false' }), runnerSettings())
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PayloadValidationError)
    expect((error as Error).message).toMatch(/must be true or false; got "false" \(string\)/)
  })

  it('fails clearly on an apiBaseUrl that is not an http(s) URL', async () => {
    const error = await destination
      .onEvent(identifyEvent(), runnerSettings({ apiBaseUrl: 'ftp://example.com' }))
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IntegrationError)
    expect(error).toMatchObject({
      status: 400,
      message: expect.stringMatching(/apiBaseUrl must be an absolute http\(s\) URL/)
    })
  })
})

describe('performBatch (many events)', () => {
  it('answers success for every event of a delivered request', async () => {
    nock(API).post(TARGET_PATH).reply(204)
    const multistatus = await onBatch([identifyEvent({ userId: 'u1' }), trackEvent({ userId: 'u2' })])
    expect(multistatus).toEqual([
      {
        status: 204,
        sent: {
          contextKind: 'user',
          userId: 'u1',
          cohortName: 'Ld segment test',
          cohortId: 'aud_1',
          value: true
        },
        body: ''
      },
      {
        status: 204,
        sent: {
          contextKind: 'user',
          userId: 'u2',
          cohortName: 'Ld segment test',
          cohortId: 'aud_1',
          value: false
        },
        body: ''
      }
    ])
  })

  it('rejects a bad event with 400 and its reason while the others go through', async () => {
    const scope = nock(API)
      .post(
        TARGET_PATH,
        (body: { batch: Array<{ userId: string }> }) => body.batch.map((m) => m.userId).join() === 'u1,u3'
      )
      .reply(204)
    const multistatus = await onBatch([
      identifyEvent({ userId: 'u1' }),
      identifyEvent({ userId: null }),
      identifyEvent({ userId: 'u3' })
    ])
    expect(scope.isDone()).toBe(true)
    expect(multistatus.map((r) => r.status)).toEqual([204, 400, 204])
    expect(multistatus[1]).toMatchObject({
      errortype: 'PAYLOAD_VALIDATION_FAILED',
      errormessage: 'no context key: context_key is "user_id_only" and segment_user_id is missing or empty'
    })
  })

  it("keeps actions-core's own 400 for an event that fails the field schema", async () => {
    nock(API).post(TARGET_PATH).reply(204)
    const noAudience = identifyEvent({ userId: 'u2' })
    noAudience.context = { personas: { computation_class: 'audience', computation_key: 'ld_segment_test' } }
    const multistatus = await onBatch([identifyEvent({ userId: 'u1' }), noAudience])
    expect(multistatus.map((r) => r.status)).toEqual([204, 400])
    expect(multistatus[1]).toMatchObject({ errormessage: expect.stringMatching(/segment_audience_id/) })
  })

  it('rejects events of other computation classes (computed traits) clearly, without sending', async () => {
    const multistatus = await onBatch([identifyEvent({ computationClass: 'computed_trait' })])
    expect(multistatus).toEqual([
      expect.objectContaining({
        status: 400,
        errormessage: 'Segment Computation Action must be one of: "audience" or "journey_step".'
      })
    ])
    await expect(
      destination.onEvent(identifyEvent({ computationClass: 'computed_trait' }), runnerSettings())
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/"audience" or "journey_step"/) })
  })

  it.each(FAILED_REQUEST_ANSWERS)('gives every event of a request answered %i that status and message', async (status, code, message) => {
    nock(API).post(TARGET_PATH).reply(status, { code, message })
    const multistatus = await onBatch([identifyEvent({ userId: 'u1' }), identifyEvent({ userId: 'u2' })])
    for (const entry of multistatus) {
      expect(entry).toMatchObject({
        status,
        errormessage: `LaunchDarkly answered ${status}: ${code}: ${message}`,
        body: { code, message }
      })
    }
  })

  it('gives the events of a request that hit a network error a retryable 503', async () => {
    const apiBaseUrl = await refusingBaseUrl()
    const results = await destination.onBatch(
      [identifyEvent({ userId: 'u1' })],
      runnerSettings({ apiBaseUrl })
    )
    const multistatus = results[0].multistatus as ResultMultiStatusNode[]
    expect(multistatus[0]).toMatchObject({ status: 503, errortype: 'SERVICE_UNAVAILABLE' })
  })

  it('gives the events of a request that timed out a 408', async () => {
    nock(API).post(TARGET_PATH).delay(500).reply(204)
    const request = createRequestClient(definition.extendRequest?.({ settings, payload: undefined }) ?? {}, {
      timeout: 50
    })
    const response = await syncAudience.performBatch?.(request, {
      payload: [payload({ segment_user_id: 'u1' }), payload({ segment_user_id: 'u2', traits_or_props: {} })],
      settings
    })
    const entries = (response as { getAllResponses(): Array<{ value(): object }> })
      .getAllResponses()
      .map((r) => r.value())
    expect(entries).toEqual([
      expect.objectContaining({ status: 408, errormessage: expect.stringMatching(/did not answer in time/) }),
      expect.objectContaining({ status: 400, errormessage: expect.stringMatching(/must be true or false/) })
    ])
  })

  it('isolates a failed request: the other context kind still succeeds', async () => {
    nock(API)
      .post(TARGET_PATH, (body: { contextKind: string }) => body.contextKind === 'user')
      .reply(409, { code: 'conflict', message: 'segment has context kind organization' })
    nock(API)
      .post(TARGET_PATH, (body: { contextKind: string }) => body.contextKind === 'organization')
      .reply(204)
    const org = identifyEvent({ userId: 'org-1' })
    org.context = { ...org.context, groupId: 'g1' }
    const result = await onBatch([identifyEvent({ userId: 'u1' }), org, identifyEvent({ userId: 'u2' })], {
      context_kind: {
        '@if': { exists: { '@path': '$.context.groupId' }, then: 'organization', else: 'user' }
      }
    })
    expect(result.map((r) => r.status)).toEqual([409, 204, 409])
    expect(result[0]).toMatchObject({
      errormessage: 'LaunchDarkly answered 409: conflict: segment has context kind organization'
    })
  })
})
