/** Reverse ETL rows as Segment sends them, and the runner settings of a syncWarehouseAudience mapping. */
import type { JSONObject, SegmentEvent } from '@segment/actions-core'
import destination from '../../src/destination'
import type { Settings } from '../../src/destination/generated-types'
import { actionSubscription } from '../../src/replay'
import { settings } from './helpers'

/** A warehouse row: a `track` named after the row's change, the row's columns in `properties`. */
export function rowEvent(
  event: string,
  columns: Record<string, unknown>,
  messageId = `retl-${event}`
): SegmentEvent {
  return {
    type: 'track',
    event,
    messageId,
    timestamp: '2026-11-21T06:00:00.000Z',
    properties: { cohort_id: 'beta-testers', cohort_name: 'beta_testers', ...columns } as JSONObject
  }
}

/** Settings for `Destination.onEvent/onBatch` with the action's own subscription under `syncMode`. */
export function warehouseSettings(
  syncMode?: string,
  mapping: JSONObject = {},
  overrides: Partial<Settings> = {}
): JSONObject {
  const subscription = actionSubscription(destination as never, 'syncWarehouseAudience', {
    syncMode,
    mapping
  })
  return { ...settings, ...overrides, subscriptions: [subscription] } as unknown as JSONObject
}
