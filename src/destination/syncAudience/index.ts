import type { ActionDefinition, MultiStatusResponse, RequestClient } from '@segment/actions-core'
import type { Settings } from '../generated-types'
import { fields } from './fields'
import type { Payload } from './generated-types'
import { performBatchPlanned, performPlanned } from './perform'
import { buildSyncRequests } from './requests'
import type { RequestOutcome } from './send'

export { fields } from './fields'

export async function performSync(
  request: RequestClient,
  payload: Payload,
  settings: Settings
): Promise<RequestOutcome> {
  return performPlanned(request, settings, buildSyncRequests([payload], { clientId: settings.clientId }))
}

/** One entry per payload, in input order; a bad event or a failed request never fails the others. */
export async function performBatchSync(
  request: RequestClient,
  payloads: readonly Payload[],
  settings: Settings
): Promise<MultiStatusResponse> {
  return performBatchPlanned(request, settings, buildSyncRequests(payloads, { clientId: settings.clientId }))
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
