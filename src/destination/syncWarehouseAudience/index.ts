import type { ActionDefinition } from '@segment/actions-core'
import type { Settings } from '../generated-types'
import { performBatchPlanned, performPlanned } from '../syncAudience/perform'
import { fields } from './fields'
import type { Payload } from './generated-types'
import { buildWarehouseRequests, DEFAULT_SYNC_MODE } from './members'

/**
 * Reverse ETL models into LaunchDarkly synced segments. Membership is actions-core's: it reads the
 * row's event name under the sync mode and hands the action `audienceMembership` (true adds, false
 * removes, undefined rejects the row).
 */
const syncWarehouseAudience: ActionDefinition<Settings, Payload> = {
  title: 'Sync Warehouse Audience',
  description: 'Sync the rows of a Segment Reverse ETL model to a LaunchDarkly synced segment.',
  defaultSubscription: 'type = "track"',
  syncMode: {
    label: 'How to sync rows',
    description: 'Which row changes of the model change the segment’s membership.',
    default: DEFAULT_SYNC_MODE,
    choices: [
      { label: 'Mirror: add new and updated rows, remove deleted rows', value: 'mirror' },
      { label: 'Upsert: add new and updated rows, never remove', value: 'upsert' },
      { label: 'Add: add new rows only', value: 'add' },
      { label: 'Delete: remove deleted rows only', value: 'delete' }
    ]
  },
  fields,
  perform: async (request, { payload, settings, audienceMembership, syncMode }) => {
    const plan = buildWarehouseRequests([payload], [audienceMembership], {
      clientId: settings.clientId,
      syncMode
    })
    return (await performPlanned(request, settings, plan)).body
  },
  performBatch: (request, { payload, settings, audienceMembership, syncMode }) => {
    const memberships = Array.isArray(audienceMembership) ? audienceMembership : []
    const plan = buildWarehouseRequests(payload, memberships, { clientId: settings.clientId, syncMode })
    return performBatchPlanned(request, settings, plan)
  }
}

export default syncWarehouseAudience
