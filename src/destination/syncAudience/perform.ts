/**
 * A plan (./requests.ts) → what actions-core expects back: the sent requests' outcomes turned into
 * a thrown error for `perform`, or a multi-status for `performBatch`. Both actions end here, so an
 * Engage event and a warehouse row with the same member get the same answer.
 */
import {
  getErrorCodeFromHttpStatus,
  IntegrationError,
  InvalidAuthenticationError,
  MultiStatusResponse,
  PayloadValidationError,
  RetryableError,
  type RequestClient
} from '@segment/actions-core'
import { SEGMENT_AUDIENCES_PATH } from '../constants'
import { InvalidEndpointError, resolveEndpoints } from '../hosts'
import type { Settings } from '../generated-types'
import type { SyncPlan } from './requests'
import { sendSyncRequests, type RequestOutcome } from './send'

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

function sendPlan(request: RequestClient, settings: Settings, plan: SyncPlan): Promise<RequestOutcome[]> {
  return sendSyncRequests(request, segmentAudiencesUrl(settings), plan.requests)
}

/** `perform`: the plan of one event; a rejection or a failed request is thrown. */
export async function performPlanned(
  request: RequestClient,
  settings: Settings,
  plan: SyncPlan
): Promise<RequestOutcome> {
  const url = segmentAudiencesUrl(settings)
  const route = plan.routes[0]
  if ('rejected' in route) throw new PayloadValidationError(route.rejected)
  const outcome = (await sendSyncRequests(request, url, plan.requests))[route.request]
  if (!outcome.ok) throw toActionError(outcome)
  return outcome
}

/** `performBatch`: one entry per planned event, in input order; a bad event or a failed request never fails the others. */
export async function performBatchPlanned(
  request: RequestClient,
  settings: Settings,
  plan: SyncPlan
): Promise<MultiStatusResponse> {
  const outcomes = await sendPlan(request, settings, plan)
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
