/**
 * The fields a warehouse user fills in. A Reverse ETL row arrives as a `track` event named `new`,
 * `updated` or `deleted` with the row's columns in `properties`; the defaults read columns named
 * after what they hold, so a model that selects `cohort_id`, `cohort_name`, `context_key` (and
 * optionally `context_kind`) needs no mapping at all.
 */
import type { InputField } from '@segment/actions-core'
import { fields as audienceFields } from '../syncAudience/fields'

export const fields: Record<string, InputField> = {
  cohort_id: {
    label: 'Segment cohort ID',
    description:
      'Which LaunchDarkly synced segment the row belongs to: type a constant to sync the whole model into one segment, or map a column to let each row name its segment. LaunchDarkly keys the segment `segment-audiences-<cohort ID>`.',
    type: 'string',
    required: true,
    default: { '@path': '$.properties.cohort_id' }
  },
  cohort_name: {
    label: 'Segment name',
    description:
      "The synced segment's name in LaunchDarkly, a constant or a column, shown the way Segment's destination shows audience names (first character upper-cased, `_` as a space). A later sync renames the segment.",
    type: 'string',
    required: true,
    default: { '@path': '$.properties.cohort_name' }
  },
  context_key: {
    label: 'Context key column',
    description:
      "The column that holds each row's LaunchDarkly context key, for example the user ID. There is no fallback: a row whose column is missing or empty is rejected, never sent.",
    type: 'string',
    required: true,
    default: { '@path': '$.properties.context_key' }
  },
  context_kind: {
    label: 'Context kind',
    description:
      "The LaunchDarkly context kind of the keys (a constant such as `user`, or a column). A segment's context kind is fixed when it is created. See [Context kinds](https://docs.launchdarkly.com/home/contexts/context-kinds).",
    type: 'string',
    required: true,
    default: {
      '@if': {
        exists: { '@path': '$.properties.context_kind' },
        then: { '@path': '$.properties.context_kind' },
        else: 'user'
      }
    }
  },
  retl_event_name: {
    label: 'Row change',
    description:
      'What happened to the row since the last sync (`new`, `updated` or `deleted`), named in rejections. This field should not need to be edited.',
    type: 'string',
    unsafe_hidden: true,
    default: { '@path': '$.event' }
  },
  enable_batching: {
    label: 'Batch rows',
    description:
      'When enabled, rows are sent to LaunchDarkly in batches. In most cases, batching should be enabled.',
    type: 'boolean',
    default: true
  },
  // The same field as Sync Audience's: Segment's platform sizes batches by it.
  batch_size: audienceFields.batch_size
}
