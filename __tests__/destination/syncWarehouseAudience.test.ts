/**
 * syncWarehouseAudience through actions-core's runner against nock: membership from the sync mode
 * and the row's event name, every rejection, and every outcome of a request, as for syncAudience.
 */
import nock from 'nock'
import {
  createRequestClient,
  Destination,
  IntegrationError,
  InvalidAuthenticationError,
  PayloadValidationError,
  RetryableError,
  type JSONObject,
  type Result,
  type SegmentEvent
} from '@segment/actions-core'
import definition from '../../src/destination'
import { toCohortName } from '../../src/destination/syncAudience/requests'
import syncWarehouseAudience from '../../src/destination/syncWarehouseAudience'
import { API, FAILED_REQUEST_ANSWERS, refusingBaseUrl, settings, TARGET_PATH } from './helpers'
import { useNock } from './nock'
import { rowEvent, warehouseSettings } from './warehouse-helpers'

type ResultMultiStatusNode = NonNullable<Result['multistatus']>[number]

const destination = new Destination(definition)
const BETA = toCohortName('beta_testers')

useNock({ allowHost: '127.0.0.1', requireAllUsed: true })

async function onBatch(events: SegmentEvent[], runnerSettings: JSONObject): Promise<ResultMultiStatusNode[]> {
  const results = await destination.onBatch(events, runnerSettings)
  expect(results).toHaveLength(1)
  return results[0].multistatus as ResultMultiStatusNode[]
}

/** Records every body POSTed and answers 204. */
function recordBodies(): Array<{ contextKind: string; batch: Array<Record<string, unknown>> }> {
  const bodies: Array<{ contextKind: string; batch: Array<Record<string, unknown>> }> = []
  // Persisted: a test may send one request or several; used at least once, it is not pending.
  nock(API)
    .persist()
    .post(TARGET_PATH)
    .reply((_uri, body) => {
      bodies.push(body as (typeof bodies)[number])
      return [204]
    })
  return bodies
}

const ROWS = ['new', 'updated', 'deleted'].map((event) => rowEvent(event, { context_key: `key-${event}` }))

describe('membership follows the sync mode', () => {
  it.each([
    ['mirror', [true, true, false]],
    ['upsert', [true, true, undefined]],
    ['add', [true, undefined, undefined]],
    ['delete', [undefined, undefined, false]]
  ] as const)('%s', async (syncMode, expected) => {
    const sent = expected.some((value) => value !== undefined)
    const bodies = sent ? recordBodies() : []
    const multistatus = await onBatch(ROWS, warehouseSettings(syncMode))
    const members = bodies.flatMap((body) => body.batch)
    expect(members).toEqual(
      ROWS.flatMap((row, i) =>
        expected[i] === undefined
          ? []
          : [
              {
                userId: row.properties?.context_key,
                cohortName: BETA,
                cohortId: 'beta-testers',
                value: expected[i]
              }
            ]
      )
    )
    multistatus.forEach((entry, i) => {
      if (expected[i] === undefined) {
        expect(entry).toMatchObject({
          status: 400,
          errortype: 'PAYLOAD_VALIDATION_FAILED',
          errormessage: expect.stringContaining(`event "${ROWS[i].event}" under sync mode "${syncMode}"`)
        })
      } else {
        expect(entry).toMatchObject({
          status: 204,
          sent: { userId: `key-${ROWS[i].event}`, value: expected[i] }
        })
      }
    })
  })

  it('defaults to mirror, the sync mode the action declares', () => {
    expect(syncWarehouseAudience.syncMode?.default).toBe('mirror')
    expect(syncWarehouseAudience.syncMode?.choices.map((c) => c.value).sort()).toEqual([
      'add',
      'delete',
      'mirror',
      'upsert'
    ])
  })

  it('rejects every row when the mapping sets no sync mode, naming it', async () => {
    const runner = warehouseSettings('mirror') as {
      subscriptions: Array<{ mapping: Record<string, unknown> }>
    }
    delete runner.subscriptions[0].mapping.__segment_internal_sync_mode
    const multistatus = await onBatch(ROWS, runner as unknown as JSONObject)
    for (const entry of multistatus) {
      expect(entry).toMatchObject({
        status: 400,
        errormessage: expect.stringMatching(/^no sync mode is set/)
      })
    }
  })

  it('rejects a row whose event is no row change, naming the event', async () => {
    const bodies = recordBodies()
    const multistatus = await onBatch(
      [rowEvent('Audience Entered', { context_key: 'u1' }), rowEvent('new', { context_key: 'u2' })],
      warehouseSettings('mirror')
    )
    expect(multistatus.map((entry) => entry.status)).toEqual([400, 204])
    expect(multistatus[0]).toMatchObject({
      errormessage:
        'no membership follows for event "Audience Entered" under sync mode "mirror", which adds new and updated rows and removes deleted ones'
    })
    expect(bodies.flatMap((body) => body.batch.map((m) => m.userId))).toEqual(['u2'])
  })
})

describe('rows', () => {
  it('rejects an empty or blank key column per row, naming the column; the others go through', async () => {
    const bodies = recordBodies()
    const multistatus = await onBatch(
      [
        rowEvent('new', { context_key: 'u1' }),
        rowEvent('new', { context_key: '' }),
        rowEvent('new', { context_key: '   ' }),
        rowEvent('new', { context_key: 'u4' })
      ],
      warehouseSettings('mirror')
    )
    expect(multistatus.map((entry) => entry.status)).toEqual([204, 400, 400, 204])
    expect(multistatus[1]).toMatchObject({
      errormessage: 'no context key: the column mapped to context_key is "" (string) in this row'
    })
    expect(multistatus[2]).toMatchObject({
      errormessage: expect.stringContaining('the column mapped to context_key')
    })
    expect(bodies.flatMap((body) => body.batch.map((m) => m.userId))).toEqual(['u1', 'u4'])
  })

  it("keeps actions-core's own 400 for a row without the key column", async () => {
    nock(API).post(TARGET_PATH).reply(204)
    const multistatus = await onBatch(
      [rowEvent('new', { context_key: 'u1' }), rowEvent('new', { context_key: null }), rowEvent('new', {})],
      warehouseSettings('mirror')
    )
    expect(multistatus.map((entry) => entry.status)).toEqual([204, 400, 400])
    expect(multistatus[1]).toMatchObject({ errormessage: expect.stringMatching(/context_key/) })
    expect(multistatus[2]).toMatchObject({ errormessage: expect.stringMatching(/context_key/) })
  })

  it('sends a numeric key column as its decimal string', async () => {
    const bodies = recordBodies()
    await onBatch([rowEvent('new', { context_key: 1007 })], warehouseSettings('mirror'))
    expect(bodies[0].batch[0]).toMatchObject({ userId: '1007' })
  })

  it('lets the last row for a (kind, cohort, key) win; earlier ones share its outcome', async () => {
    const bodies = recordBodies()
    const multistatus = await onBatch(
      [
        rowEvent('deleted', { context_key: 'u1' }),
        rowEvent('new', { context_key: 'u2' }),
        rowEvent('new', { context_key: 'u1' })
      ],
      warehouseSettings('mirror')
    )
    expect(bodies).toHaveLength(1)
    expect(bodies[0].batch.map((m) => [m.userId, m.value])).toEqual([
      ['u2', true],
      ['u1', true]
    ])
    expect(multistatus[0]).toEqual(multistatus[2])
  })

  it('groups rows by context kind (a column) and cohort (a column) into one request per kind', async () => {
    const bodies = recordBodies()
    const multistatus = await onBatch(
      [
        rowEvent('new', { context_key: 'u1' }),
        rowEvent('new', {
          context_key: 'org-1',
          context_kind: 'organization',
          cohort_id: 'ent',
          cohort_name: 'Enterprise'
        }),
        rowEvent('deleted', { context_key: 'u2', cohort_id: 'trial', cohort_name: 'trial_users' })
      ],
      warehouseSettings('mirror')
    )
    expect(multistatus.map((entry) => entry.status)).toEqual([204, 204, 204])
    expect(
      bodies.map((body) => [body.contextKind, body.batch.map((m) => `${m.cohortId}/${m.userId}`)])
    ).toEqual([
      ['user', ['beta-testers/u1', 'trial/u2']],
      ['organization', ['ent/org-1']]
    ])
  })

  it('takes a typed cohort and kind from the mapping instead of columns', async () => {
    const bodies = recordBodies()
    await onBatch(
      [rowEvent('new', { user_id: 'u1' })],
      warehouseSettings('mirror', {
        cohort_id: 'vip',
        cohort_name: 'VIP customers',
        context_kind: 'customer',
        context_key: { '@path': '$.properties.user_id' }
      })
    )
    expect(bodies).toEqual([
      {
        environmentId: settings.clientId,
        contextKind: 'customer',
        batch: [{ userId: 'u1', cohortName: toCohortName('VIP customers'), cohortId: 'vip', value: true }]
      }
    ])
  })

  it('splits a kind into requests of batch_size members', async () => {
    const bodies = recordBodies()
    const rows = Array.from({ length: 5 }, (_, i) => rowEvent('new', { context_key: `u${i}` }))
    await onBatch(rows, warehouseSettings('mirror', { batch_size: 2 }))
    expect(bodies.map((body) => body.batch.length)).toEqual([2, 2, 1])
  })
})

describe('perform (one row)', () => {
  const row = rowEvent('new', { context_key: 'u1' })

  it('POSTs the member and resolves on 204', async () => {
    const scope = nock(API)
      .post(TARGET_PATH, {
        environmentId: settings.clientId,
        contextKind: 'user',
        batch: [{ userId: 'u1', cohortName: BETA, cohortId: 'beta-testers', value: true }]
      })
      .reply(204)
    await expect(destination.onEvent(row, warehouseSettings('mirror'))).resolves.toBeDefined()
    expect(scope.isDone()).toBe(true)
  })

  it.each([429, 500, 503])('throws a RetryableError on %i', async (status) => {
    nock(API).post(TARGET_PATH).reply(status, { code: 'busy', message: 'try later' })
    const error = await destination.onEvent(row, warehouseSettings('mirror')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RetryableError)
    expect(error).toMatchObject({ status, message: `LaunchDarkly answered ${status}: busy: try later` })
  })

  it.each([401, 403])('throws an InvalidAuthenticationError on %i', async (status) => {
    nock(API).post(TARGET_PATH).reply(status, { code: 'unauthorized', message: 'Invalid access token' })
    const error = await destination.onEvent(row, warehouseSettings('mirror')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidAuthenticationError)
  })

  it.each([400, 404, 409])(
    "throws a non-retryable IntegrationError with the receiver's message on %i",
    async (status) => {
      nock(API).post(TARGET_PATH).reply(status, { code: 'bad', message: 'refused' })
      const error = await destination.onEvent(row, warehouseSettings('mirror')).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(IntegrationError)
      expect(error).not.toBeInstanceOf(RetryableError)
      expect(error).toMatchObject({
        status,
        retry: false,
        message: `LaunchDarkly answered ${status}: bad: refused`
      })
    }
  )

  it('throws a RetryableError on a network error', async () => {
    const error = await destination
      .onEvent(row, warehouseSettings('mirror', {}, { apiBaseUrl: await refusingBaseUrl() }))
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      status: 503,
      message: expect.stringMatching(/Could not reach LaunchDarkly/)
    })
    expect(error).toBeInstanceOf(RetryableError)
  })

  it('throws a RetryableError on a timeout', async () => {
    nock(API).post(TARGET_PATH).delay(500).reply(204)
    const request = createRequestClient(definition.extendRequest?.({ settings, payload: undefined }) ?? {}, {
      timeout: 50
    })
    const payload = {
      cohort_id: 'beta-testers',
      cohort_name: 'beta_testers',
      context_key: 'u1',
      context_kind: 'user'
    }
    const error = await syncWarehouseAudience
      .perform(request, { payload, settings, audienceMembership: true, syncMode: 'mirror' })
      .then(
        () => undefined,
        (e: unknown) => e
      )
    expect(error).toMatchObject({ status: 408, message: expect.stringMatching(/did not answer in time/) })
    expect(error).toBeInstanceOf(RetryableError)
  })

  it('throws a PayloadValidationError, without sending, for a row the sync mode does not act on', async () => {
    const error = await destination
      .onEvent(rowEvent('deleted', { context_key: 'u1' }), warehouseSettings('add'))
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PayloadValidationError)
    expect((error as Error).message).toBe(
      'no membership follows for event "deleted" under sync mode "add", which adds new rows only'
    )
  })
})

describe('performBatch: outcomes of a request', () => {
  it.each(FAILED_REQUEST_ANSWERS)(
    'gives every row of a request answered %i that status and message',
    async (status, code, message) => {
      nock(API).post(TARGET_PATH).reply(status, { code, message })
      const multistatus = await onBatch(
        [rowEvent('new', { context_key: 'u1' }), rowEvent('deleted', { context_key: 'u2' })],
        warehouseSettings('mirror')
      )
      for (const entry of multistatus) {
        expect(entry).toMatchObject({
          status,
          errormessage: `LaunchDarkly answered ${status}: ${code}: ${message}`,
          body: { code, message }
        })
      }
    }
  )

  it('gives the rows of a request that hit a network error a retryable 503', async () => {
    const multistatus = await onBatch(
      [rowEvent('new', { context_key: 'u1' })],
      warehouseSettings('mirror', {}, { apiBaseUrl: await refusingBaseUrl() })
    )
    expect(multistatus[0]).toMatchObject({ status: 503, errortype: 'SERVICE_UNAVAILABLE' })
  })

  it('isolates a failed request: the other context kind still succeeds', async () => {
    nock(API)
      .post(TARGET_PATH, (body: { contextKind: string }) => body.contextKind === 'user')
      .reply(409, { code: 'conflict', message: 'segment has context kind organization' })
    nock(API)
      .post(TARGET_PATH, (body: { contextKind: string }) => body.contextKind === 'organization')
      .reply(204)
    const multistatus = await onBatch(
      [
        rowEvent('new', { context_key: 'u1' }),
        rowEvent('new', { context_key: 'org-1', context_kind: 'organization' }),
        rowEvent('deleted', { context_key: 'u2' })
      ],
      warehouseSettings('mirror')
    )
    expect(multistatus.map((entry) => entry.status)).toEqual([409, 204, 409])
  })
})
