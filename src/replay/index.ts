/**
 * Replays Segment events through the destination exactly as Segment would: actions-core's own
 * `Destination` runner, the preset's subscription and mapping, `onBatch` per batch. Batches run one
 * after the other, so the last event for a user decides, as it did in Engage.
 */
import { defaultValues, Destination, type DestinationDefinition, type JSONObject, type SegmentEvent } from '@segment/actions-core'
import defaultDestination from '../destination'
import { resolveEndpoints } from '../destination/hosts'
import { startSink } from './sink'
import {
  emptySummary,
  recordBatchResults,
  recordMalformed,
  recordRequest,
  toReplayRequest,
  type ReplayRequest,
  type ReplaySummary
} from './summary'
import type { EventRecord } from './types'

export type { EventRecord } from './types'
export type { ReplayRequest, ReplaySummary, CohortTouched } from './summary'

export interface ReplaySettings {
  apiKey: string
  clientId: string
  apiBaseUrl?: string
}

export interface ReplayProgress {
  /** Lines consumed so far (events and malformed lines). */
  lines: number
  eventsRead: number
  batches: number
  requests: number
}

export interface ReplayOptions {
  settings: ReplaySettings
  /** Events per `onBatch` call. */
  batchSize: number
  /** Fields merged over the preset's mapping, e.g. `{ context_kind: 'organization' }`. */
  mapping?: JSONObject
  /** Run this action with its own subscription (see actionSubscription) instead of the preset. */
  action?: string
  /** The sync mode for an action that declares one (its default otherwise). */
  syncMode?: string
  /**
   * Build and print the requests without sending them: the runner posts to an in-process sink
   * answering 204, and each request is reported with the URL it would have gone to.
   */
  dryRun?: boolean
  onProgress?: (progress: ReplayProgress) => void
  /** Every request, in the order answers arrive within a batch. */
  onRequest?: (request: ReplayRequest) => void
  /** The destination to run (this project's by default). */
  definition?: DestinationDefinition<never>
}

/** The preset's subscription, with `mapping` laid over its mapping. */
export function presetSubscription(definition: DestinationDefinition<never>, mapping: JSONObject = {}) {
  const preset = definition.presets?.find((p) => p.type === 'automatic')
  if (!preset || preset.type !== 'automatic') throw new Error(`${definition.name} has no automatic preset to replay with`)
  return {
    name: preset.name,
    partnerAction: preset.partnerAction,
    subscribe: preset.subscribe,
    mapping: { ...(preset.mapping ?? {}), ...mapping }
  }
}

/**
 * An action's own subscription, for actions no preset covers (syncWarehouseAudience): its default
 * subscription, its fields' defaults with `mapping` laid over them, and the sync mode where
 * Segment's platform puts it, `__segment_internal_sync_mode` in the mapping.
 */
export function actionSubscription(
  definition: DestinationDefinition<never>,
  slug: string,
  options: { syncMode?: string; mapping?: JSONObject } = {}
) {
  const actions = definition.actions
  const action = Object.prototype.hasOwnProperty.call(actions, slug) ? actions[slug] : undefined
  if (!action) throw new Error(`${definition.name} has no action "${slug}" (it has ${Object.keys(actions).join(', ')})`)
  if (!action.defaultSubscription) throw new Error(`the action ${slug} has no default subscription to replay with`)
  const { syncMode } = options
  if (syncMode !== undefined) {
    if (!action.syncMode) throw new Error(`the action ${slug} takes no sync mode`)
    const modes = action.syncMode.choices.map((choice) => choice.value)
    if (!modes.some((mode) => mode === syncMode)) {
      throw new Error(`the action ${slug} takes sync mode ${modes.join(', ')}; got "${syncMode}"`)
    }
  }
  const mode = syncMode ?? action.syncMode?.default
  return {
    name: action.title,
    partnerAction: slug,
    subscribe: action.defaultSubscription,
    mapping: {
      ...defaultValues(action.fields),
      ...(mode === undefined ? {} : { __segment_internal_sync_mode: mode }),
      ...(options.mapping ?? {})
    }
  }
}

/** The preset's subscription, or an action's own when an action or a sync mode is asked for; throws on a wrong one. */
export function replaySubscription(
  definition: DestinationDefinition<never>,
  options: Pick<ReplayOptions, 'action' | 'syncMode' | 'mapping'>
) {
  if (options.action === undefined && options.syncMode === undefined) {
    return presetSubscription(definition, options.mapping)
  }
  return actionSubscription(definition, options.action ?? presetSubscription(definition).partnerAction, options)
}

function withoutUndefined(settings: ReplaySettings): JSONObject {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as JSONObject
}

export async function replayEvents(source: AsyncIterable<EventRecord>, options: ReplayOptions): Promise<ReplaySummary> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`)
  }
  const definition = (options.definition ?? defaultDestination) as DestinationDefinition<never>
  const destination = new Destination(definition)
  const subscription = replaySubscription(definition, options)
  const summary = emptySummary(Boolean(options.dryRun))

  // A dry run sends to the sink, then reports each request under the base URL it would have used.
  // Resolved first: a bad base URL must fail before the sink opens a port.
  const realApiBase = resolveEndpoints(options.settings).api
  const sink = options.dryRun ? await startSink() : undefined
  const settings = withoutUndefined(sink ? { ...options.settings, apiBaseUrl: sink.url } : options.settings)
  const runnerSettings = { ...settings, subscriptions: [subscription] } as unknown as JSONObject

  let lines = 0
  let reportedLines = -1
  let batch: SegmentEvent[] = []
  const report = (): void => {
    reportedLines = lines
    options.onProgress?.({ lines, eventsRead: summary.eventsRead, batches: summary.batches, requests: summary.requests })
  }

  const runBatch = async (): Promise<void> => {
    const events = batch
    batch = []
    // Awaited before the next batch starts: a later batch never overtakes an earlier one.
    const results = await destination.onBatch(events, runnerSettings)
    recordBatchResults(summary, results, events.length)
    // The runner keeps every response; take them per batch so memory stays flat on long files.
    for (const response of destination.responses.splice(0)) {
      const url = sink ? realApiBase + response.request.url.slice(sink.url.length) : response.request.url
      const request = toReplayRequest(response.options.method, url, response.options.body, response.status)
      recordRequest(summary, request)
      options.onRequest?.(request)
    }
    report()
  }

  try {
    for await (const record of source) {
      lines += 1
      if ('error' in record) {
        recordMalformed(summary, record.line, record.error)
        continue
      }
      summary.eventsRead += 1
      batch.push(record.event)
      if (batch.length >= options.batchSize) await runBatch()
    }
    if (batch.length > 0) await runBatch()
    // Malformed lines after the last batch still count towards the total.
    else if (reportedLines !== lines) report()
  } finally {
    await sink?.close()
  }
  return summary
}
