import type { ActionDefinition, InputField, MultiStatusResponse, RequestClient } from '@segment/actions-core'
import type { Settings } from '../generated-types'
import type { Payload } from './generated-types'
import { performBatchPlanned, performPlanned } from './perform'
import {
  buildSyncRequests,
  CONTEXT_KEY_PRIORITIES,
  DEFAULT_BATCH_SIZE,
  MAX_BATCH_SIZE,
  MIN_BATCH_SIZE
} from './requests'
import type { RequestOutcome } from './send'

/**
 * Field keys are those of Segment's existing LaunchDarkly Audiences action, so saved mappings load
 * unchanged; `batch_size` is ours.
 */
export const fields: Record<string, InputField> = {
  segment_audience_id: {
    label: 'Audience ID',
    description: 'Segment Audience ID to which user identifier should be added or removed',
    type: 'string',
    required: true,
    default: { '@path': '$.context.personas.computation_id' }
  },
  segment_audience_key: {
    label: 'Audience Key',
    description: 'Segment Audience key to which user identifier should be added or removed',
    type: 'string',
    required: true,
    default: { '@path': '$.context.personas.computation_key' }
  },
  segment_computation_action: {
    label: 'Segment Computation Action',
    description:
      "Segment computation class used to determine if input event is from an Engage Audience. Value must be 'audience' or 'journey_step'.",
    type: 'string',
    required: true,
    default: { '@path': '$.context.personas.computation_class' },
    choices: [
      { label: 'audience', value: 'audience' },
      { label: 'journey_step', value: 'journey_step' }
    ]
  },
  context_kind: {
    label: 'Context kind',
    description:
      "The event's context kind. To learn more about context kinds and where you can find a list of context kinds LaunchDarkly has observed, read [Context kinds](https://docs.launchdarkly.com/home/contexts/context-kinds).",
    type: 'string',
    required: true,
    default: 'user'
  },
  segment_user_id: {
    label: 'Segment User ID',
    description: 'The Segment userId value.',
    type: 'string',
    default: { '@path': '$.userId' }
  },
  segment_anonymous_id: {
    label: 'Segment Anonymous ID',
    description: 'The Segment anonymousId value.',
    type: 'string',
    default: { '@path': '$.anonymousId' }
  },
  user_email: {
    label: 'Email address',
    description: "The user's email address",
    type: 'string',
    default: {
      '@if': {
        exists: { '@path': '$.traits.email' },
        then: { '@path': '$.traits.email' },
        else: { '@path': '$.context.traits.email' }
      }
    }
  },
  context_key: {
    label: 'Context key',
    description:
      'The unique LaunchDarkly context key, taken from the identifiers in this order. In most cases the Segment userId should be used.',
    type: 'string',
    required: true,
    default: 'user_id_only',
    choices: [
      { label: 'Use Segment userId only', value: 'user_id_only' },
      { label: 'Use Segment userId, else email', value: 'user_id_then_email' },
      { label: 'Use Segment userId, else anonymousId', value: 'user_id_then_anonymousId' },
      {
        label: 'Use Segment userId, else email, else anonymousId',
        value: 'user_id_then_email_then_anonymousId'
      },
      { label: 'Use email only', value: 'email_only' }
    ] satisfies Array<{ label: string; value: (typeof CONTEXT_KEY_PRIORITIES)[number] }>
  },
  traits_or_props: {
    label: 'Traits or properties object',
    description: 'A computed object for track and identify events. This field should not need to be edited.',
    type: 'object',
    required: true,
    default: {
      '@if': {
        exists: { '@path': '$.properties' },
        then: { '@path': '$.properties' },
        else: { '@path': '$.traits' }
      }
    }
  },
  enable_batching: {
    label: 'Batch events',
    description:
      'When enabled, the action will batch events before sending them to LaunchDarkly. In most cases, batching should be enabled.',
    type: 'boolean',
    default: true
  },
  audience_action: {
    label: 'Audience Action',
    description: 'Indicates if the user will be added or removed from the Audience',
    type: 'string',
    unsafe_hidden: true
  },
  batch_size: {
    label: 'Batch size',
    description: `Maximum number of audience members in one request to LaunchDarkly (${MIN_BATCH_SIZE} to ${MAX_BATCH_SIZE}).`,
    type: 'integer',
    default: DEFAULT_BATCH_SIZE,
    minimum: MIN_BATCH_SIZE,
    maximum: MAX_BATCH_SIZE
  }
}

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
