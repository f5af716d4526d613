/**
 * Pure: warehouse rows, each with the membership actions-core resolved for it from the row's event
 * name and the sync mode, → members for syncAudience's planner. Nothing is guessed: a row for which
 * no membership follows, or without a context key, is rejected with the reason.
 */
import type { AudienceMembership, SyncModeDefinition } from '@segment/actions-core'
import {
  BatchMemo,
  batchSizeOf,
  contextKeyProblem,
  describeValue,
  nonBlankString,
  planMembers,
  type AcceptedMember,
  type PlanOptions,
  type SyncPlan
} from '../syncAudience/requests'
import type { Payload } from './generated-types'

/** actions-core's sync modes (its root exports the definition, not the union). */
export type SyncMode = SyncModeDefinition['default']

/** The sync modes the action offers, and which row changes each one acts on (actions-core's rule). */
export const WAREHOUSE_SYNC_MODES = ['add', 'upsert', 'delete', 'mirror'] as const
export const DEFAULT_SYNC_MODE: SyncMode = 'mirror'

const ACTS_ON: Readonly<Record<SyncMode, string>> = {
  add: 'adds new rows only',
  update: 'adds updated rows only',
  upsert: 'adds new and updated rows, and removes none',
  delete: 'removes deleted rows only',
  mirror: 'adds new and updated rows and removes deleted ones'
}

export interface WarehousePlanOptions extends PlanOptions {
  /** As actions-core read it from the mapping; undefined when the mapping sets none. */
  syncMode: SyncMode | undefined
}

function membershipProblem(payload: Payload, syncMode: SyncMode | undefined): string {
  if (syncMode === undefined) {
    return `no sync mode is set, so no membership follows for the row (choose one of ${WAREHOUSE_SYNC_MODES.join(', ')})`
  }
  const event = payload.retl_event_name
  const name = event === undefined ? 'with no event name' : `"${event}"`
  return `no membership follows for event ${name} under sync mode "${syncMode}", which ${ACTS_ON[syncMode]}`
}

function acceptRow(
  payload: Payload,
  membership: AudienceMembership,
  syncMode: SyncMode | undefined,
  memo: BatchMemo
): AcceptedMember {
  if (typeof membership !== 'boolean') return { rejected: membershipProblem(payload, syncMode) }
  // Each column read once: most payloads actions-core hands over are dictionary-mode objects.
  const { cohort_id: cohortId, cohort_name: name, context_key: key, context_kind: kind } = payload
  if (!nonBlankString(cohortId))
    return { rejected: `cohort_id (the segment's cohort ID) is ${describeValue(cohortId)}` }
  if (!nonBlankString(name)) return { rejected: `cohort_name (the segment's name) is ${describeValue(name)}` }
  const kindProblem = memo.kindProblem(kind)
  if (kindProblem) return { rejected: kindProblem }
  if (!nonBlankString(key)) {
    return {
      rejected: `no context key: the column mapped to context_key is ${describeValue(key)} in this row`
    }
  }
  const keyProblem = contextKeyProblem(key, 'the context_key column')
  if (keyProblem) return { rejected: keyProblem }
  const batchSize = batchSizeOf(payload)
  if (typeof batchSize === 'string') return { rejected: batchSize }

  return {
    kind,
    batchSize,
    member: { userId: key, cohortName: memo.cohortName(name), cohortId, value: membership }
  }
}

/**
 * Builds the requests for a batch of rows (`perform` passes a batch of one); `memberships[i]`
 * belongs to `payloads[i]`. Grouping, the duplicate rule and batch sizes are syncAudience's.
 */
export function buildWarehouseRequests(
  payloads: readonly Payload[],
  memberships: readonly AudienceMembership[],
  options: WarehousePlanOptions
): SyncPlan {
  const memo = new BatchMemo()
  return planMembers(
    payloads.map((payload, index) => acceptRow(payload, memberships[index], options.syncMode, memo)),
    options
  )
}
