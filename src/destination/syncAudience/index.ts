import {
  getErrorCodeFromHttpStatus,
  IntegrationError,
  InvalidAuthenticationError,
  MultiStatusResponse,
  PayloadValidationError,
  RetryableError,
  type ActionDefinition,
  type RequestClient
} from '@segment/actions-core'
import { SEGMENT_AUDIENCES_PATH } from '../constants'
import type { Settings } from '../generated-types'
import { InvalidEndpointError, resolveEndpoints } from '../hosts'
import { fields } from './fields'
import type { Payload } from './generated-types'
import { buildSyncRequests, type SyncPlan } from './requests'
import { sendSyncRequests, type RequestOutcome } from './send'

export { fields } from './fields'

function segmentAudiencesUrl(settings: Settings): string {
  try {
    return resolveEndpoints(settings).api + SEGMENT_AUDIENCES_PATH
  } catch (error) {
    // A misconfigured destination fails every event alike; retrying cannot help.
    if (error instanceof InvalidEndpointError)
      throw new IntegrationError(error.message, 'INVALID_SETTINGS', 400)
    throw error
  }
}

async function planAndSend(
  request: RequestClient,
  payloads: readonly Payload[],
  settings: Settings
): Promise<{ plan: SyncPlan; outcomes: RequestOutcome[] }> {
  const url = segmentAudiencesUrl(settings)
  const plan = buildSyncRequests(payloads, { clientId: settings.clientId })
  return { plan, outcomes: await sendSyncRequests(request, url, plan.requests) }
}

/** Maps a failed request to the error class Segment's retry logic understands. */
function toActionError(outcome: Extract<RequestOutcome, { ok: false }>): Error {
  switch (outcome.failure) {
    case 'auth':
      return new InvalidAuthenticationError(outcome.message)
    case 'retryable':
      return new RetryableError(
        outcome.message,
        outcome.status as ConstructorParameters<typeof RetryableError>[1]
      )
    case 'rejected': {
      const error = new IntegrationError(
        outcome.message,
        getErrorCodeFromHttpStatus(outcome.status),
        outcome.status
      )
      error.retry = false
      return error
    }
  }
}

export async function performSync(
  request: RequestClient,
  payload: Payload,
  settings: Settings
): Promise<RequestOutcome> {
  const { plan, outcomes } = await planAndSend(request, [payload], settings)
  const route = plan.routes[0]
  if ('rejected' in route) throw new PayloadValidationError(route.rejected)
  const outcome = outcomes[route.request]
  if (!outcome.ok) throw toActionError(outcome)
  return outcome
}

/** One entry per payload, in input order; a bad event or a failed request never fails the others. */
export async function performBatchSync(
  request: RequestClient,
  payloads: readonly Payload[],
  settings: Settings
): Promise<MultiStatusResponse> {
  const { plan, outcomes } = await planAndSend(request, payloads, settings)
  const response = new MultiStatusResponse()
  plan.routes.forEach((route, index) => {
    if ('rejected' in route) {
      response.setErrorResponseAtIndex(index, {
        status: 400,
        errortype: 'PAYLOAD_VALIDATION_FAILED',
        errormessage: route.rejected
      })
      return
    }
    const outcome = outcomes[route.request]
    const { member } = route
    const sent = {
      contextKind: plan.requests[route.request].contextKind,
      userId: member.userId,
      cohortName: member.cohortName,
      cohortId: member.cohortId,
      value: member.value
    }
    if (outcome.ok) {
      response.setSuccessResponseAtIndex(index, { status: outcome.status, sent, body: outcome.body })
    } else {
      response.setErrorResponseAtIndex(index, {
        status: outcome.status,
        errormessage: outcome.message,
        sent,
        body: outcome.body ?? outcome.message
      })
    }
  })
  return response
}

const syncAudience: ActionDefinition<Settings, Payload> = {
  title: 'Sync Audience',
  description: 'Sync Engage Audiences to LaunchDarkly segments',
  defaultSubscription: 'type = "identify" or type = "track"',
  fields,
  perform: async (request, { payload, settings }) => (await performSync(request, payload, settings)).body,
  performBatch: (request, { payload, settings }) => performBatchSync(request, payload, settings)
}

export default syncAudience
