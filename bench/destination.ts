/**
 * Destination throughput through actions-core's own runner (`Destination.onBatch`, the preset's
 * subscription and mapping), against a 204 sink in another process; and the same events through a
 * copy of the definition whose syncAudience only maps (performBatch returns at once) — the
 * engine's own cost, the ceiling any action can reach. A third copy runs the real performBatch
 * with a request client that answers 204 without sending, which splits the gap between the two into
 * the action's own work (planning, the multi-status) and HTTP.
 *
 * Two phases. The first rounds run right after a few warm-up batches, as every earlier run did: the
 * per-event code (mapping, validation, planning) has by then run thousands of times and V8 has
 * optimised it, but the per-request code (the request client, node-fetch, node:http, streams) has
 * run a handful of times and still runs unoptimised (`node --trace-opt` shows none of it compiled by
 * TurboFan), so each request costs about twice what it does in a process that has sent thousands. A
 * deployment sends thousands, so the judged figures come from the second phase: after every runner
 * has also run many small batches (a request each), the same rounds again.
 */
import { spawn } from 'node:child_process'
import { get } from 'node:http'
import { join } from 'node:path'
import {
  defaultValues,
  Destination,
  type DestinationDefinition,
  type JSONObject,
  type RequestClient,
  type SegmentEvent
} from '@segment/actions-core'
import type { CodeUnderTest } from './code'
import { machineBusyCpuSeconds, ownCpuSeconds, processCpuSeconds } from './cpu'
import { STATS_PATH, type SinkStats } from './sink'
import { median } from './stats'

export interface DestinationSizes {
  /** Events per onBatch call (Segment's batch). */
  batchEvents: number
  warmupBatches: number
  /** Rounds of (map-only, no-network, real) measurements, rotating which goes first. */
  rounds: number
  batchesPerRound: number
  /** Small batches each runner runs between the phases, so its per-request code reaches steady state. */
  steadyWarmupBatches: number
  steadyWarmupEvents: number
}

type Runner = 'mapOnly' | 'noNetwork' | 'real'

/** One phase's figures, medians over its rounds. */
export interface DestinationRates {
  eventsPerSecond: number
  mapOnlyEventsPerSecond: number
  /** Median of each round's real / map-only ratio (paired, so background load cancels out). */
  shareOfMapOnly: number
  /** Median of each round's map-only / real CPU per event: the same ratio with idle time left out. */
  cpuShareOfMapOnly: number
  /** CPU time of the runner's process per event (the sink is another process), medians. */
  cpuMicrosPerEvent: number
  mapOnlyCpuMicrosPerEvent: number
  /** The real performBatch with a request client that answers 204 at once: everything but HTTP. */
  noNetworkEventsPerSecond: number
  noNetworkCpuMicrosPerEvent: number
  /** The sink's CPU per event in the real rounds (another process, on the other core). */
  sinkCpuMicrosPerEvent: number
  /** The rest of the machine meanwhile, in cores (busy time minus the runner and the sink): the largest of the rounds. */
  backgroundCores: number
  /** Every round, for the record: events/s and CPU µs per event of each runner. */
  rounds: Array<Record<Runner, { eventsPerSecond: number; cpuMicrosPerEvent: number }>>
}

/** The judged figures are the steady state's; `firstBatches` has the same figures before the long warm-up. */
export interface DestinationFigures extends DestinationRates {
  firstBatches: DestinationRates
  /** Requests per 1000 events. */
  requestsPerThousandEvents: number
  /** Request line, headers and body, as the sink read them off the socket. */
  wireBytesPerEvent: number
  bodyBytesPerEvent: number
}

const AUDIENCES = ['power_users', 'trial_users', 'churn_risk', 'beta_testers'].map((key, i) => ({
  key,
  id: `aud_bench_${i}`
}))

/** Engage audience events: identify and track alternate, 90 % entered, 10 % exited, distinct users. */
export function engageEvents(count: number, offset = 0): SegmentEvent[] {
  return Array.from({ length: count }, (_, k) => {
    const i = offset + k
    const audience = AUDIENCES[i % AUDIENCES.length]
    const value = i % 10 !== 9
    const personas = {
      computation_class: 'audience',
      computation_id: audience.id,
      computation_key: audience.key,
      namespace: 'spa_bench',
      space_id: 'spa_bench'
    }
    const common = {
      messageId: `personas_bench_${i}`,
      timestamp: '2026-11-21T12:00:00.000Z',
      userId: `user-${i}`,
      anonymousId: `anon-${i}`
    }
    return i % 2 === 0
      ? {
          ...common,
          type: 'identify',
          traits: { email: `user-${i}@example.com`, [audience.key]: value },
          context: { personas }
        }
      : {
          ...common,
          type: 'track',
          event: value ? 'Audience Entered' : 'Audience Exited',
          properties: { audience_key: audience.key, [audience.key]: value },
          context: { personas, traits: { email: `user-${i}@example.com` } }
        }
  })
}

/**
 * Reverse ETL rows of a model with two cohorts, mirrored: 80 % new, 10 % updated, 10 % deleted,
 * distinct keys, one context kind (as the Engage events: one request per batch).
 */
export function warehouseRows(count: number, offset = 0): SegmentEvent[] {
  return Array.from({ length: count }, (_, k) => {
    const i = offset + k
    const change = i % 10
    const cohort = i % 2 === 0 ? 'bench_users' : 'bench_trials'
    return {
      messageId: `retl_bench_${i}`,
      timestamp: '2026-11-21T12:00:00.000Z',
      type: 'track',
      event: change === 8 ? 'updated' : change === 9 ? 'deleted' : 'new',
      properties: {
        cohort_id: cohort.replace('_', '-'),
        cohort_name: cohort,
        context_key: `user-${i}`,
        plan: i % 3 === 0 ? 'pro' : 'free'
      }
    }
  })
}

type Subscription = { name?: string; partnerAction: string; subscribe: string; mapping: JSONObject }

/** What one destination run measures: an action, the events it gets and the subscription that routes them. */
export interface DestinationWorkload {
  action: string
  events: (count: number, offset: number) => SegmentEvent[]
  subscription: (definition: DestinationDefinition<JSONObject>) => Subscription
}

/** Engage audience events through the preset (SPEC §E). */
export const ENGAGE_WORKLOAD: DestinationWorkload = {
  action: 'syncAudience',
  events: engageEvents,
  subscription(definition) {
    const preset = definition.presets?.find((p) => p.type === 'automatic')
    if (!preset || preset.type !== 'automatic') throw new Error('the destination has no automatic preset')
    return {
      name: preset.name,
      partnerAction: preset.partnerAction,
      subscribe: preset.subscribe,
      mapping: preset.mapping as JSONObject
    }
  }
}

/** Warehouse rows through syncWarehouseAudience's own subscription and default mapping, mirror mode (SPEC §E2). */
export const WAREHOUSE_WORKLOAD: DestinationWorkload = {
  action: 'syncWarehouseAudience',
  events: warehouseRows,
  subscription(definition) {
    const action = definition.actions.syncWarehouseAudience
    return {
      name: action.title,
      partnerAction: 'syncWarehouseAudience',
      subscribe: action.defaultSubscription ?? 'type = "track"',
      // Where Segment's platform puts the sync mode.
      mapping: { ...defaultValues(action.fields), __segment_internal_sync_mode: 'mirror' } as JSONObject
    }
  }
}

/** The definition with an action that maps and validates like the real one, then does nothing. */
export function mapOnly(
  definition: DestinationDefinition<JSONObject>,
  slug = ENGAGE_WORKLOAD.action
): DestinationDefinition<JSONObject> {
  const action = definition.actions[slug]
  return {
    ...definition,
    actions: {
      ...definition.actions,
      [slug]: { ...action, perform: () => undefined, performBatch: () => undefined }
    }
  }
}

/** The definition with the real action, whose requests are answered 204 without being sent. */
export function noNetwork(
  definition: DestinationDefinition<JSONObject>,
  slug = ENGAGE_WORKLOAD.action
): DestinationDefinition<JSONObject> {
  const action = definition.actions[slug]
  const performBatch = action.performBatch
  if (!performBatch) throw new Error(`${slug} has no performBatch`)
  const answer204 = (async () => ({ status: 204, data: null, content: '' })) as unknown as RequestClient
  return {
    ...definition,
    actions: {
      ...definition.actions,
      [slug]: { ...action, performBatch: (_request, data) => performBatch(answer204, data) }
    }
  }
}

function runnerSettings(subscription: Subscription, apiBaseUrl: string): JSONObject {
  return {
    apiKey: 'api-bench-token',
    clientId: 'bench-client-id',
    apiBaseUrl,
    subscriptions: [subscription]
  } as unknown as JSONObject
}

async function startSinkProcess(): Promise<{
  url: string
  pid: number
  stats(): Promise<SinkStats>
  stop(): Promise<void>
}> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join(__dirname, 'sink.ts')],
    {
      stdio: ['ignore', 'pipe', 'inherit']
    }
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`the sink exited (code ${code}): ${output}`)))
  })
  return {
    url,
    pid: child.pid as number,
    // A fresh connection (agent: false), so the stats request never shares a socket with the traffic it counts.
    stats: () =>
      new Promise((resolve, reject) => {
        get(url + STATS_PATH, { agent: false }, (response) => {
          let body = ''
          response.on('data', (chunk: Buffer) => (body += chunk.toString()))
          response.on('end', () => resolve(JSON.parse(body) as SinkStats))
        }).on('error', reject)
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}

interface Rate {
  eventsPerSecond: number
  cpuMicrosPerEvent: number
  sinkCpuMicrosPerEvent: number
  backgroundCores: number
}

/** Events per second (and CPU per event) through onBatch; every event must come back a success. */
async function measure(
  destination: Destination<JSONObject>,
  settings: JSONObject,
  batches: readonly SegmentEvent[][],
  sinkPid: number
): Promise<Rate> {
  const startedAt = performance.now()
  const cpuAtStart = ownCpuSeconds()
  const sinkAtStart = processCpuSeconds(sinkPid)
  const machineAtStart = machineBusyCpuSeconds()
  for (const batch of batches) {
    const results = await destination.onBatch(batch, settings)
    // The runner keeps every response it saw; drop them so memory stays flat.
    destination.responses.splice(0)
    const failed = results.some(
      (r) => ('error' in r && r.error) || ('multistatus' in r && r.multistatus?.some((s) => s.status >= 300))
    )
    if (failed) throw new Error(`destination batch failed: ${JSON.stringify(results).slice(0, 500)}`)
  }
  const seconds = (performance.now() - startedAt) / 1000
  const cpu = ownCpuSeconds() - cpuAtStart
  const sink = processCpuSeconds(sinkPid) - sinkAtStart
  const events = batches.reduce((n, b) => n + b.length, 0)
  return {
    eventsPerSecond: events / seconds,
    cpuMicrosPerEvent: (cpu * 1e6) / events,
    sinkCpuMicrosPerEvent: (sink * 1e6) / events,
    // /proc/stat counts in 1/100 s: on a run this short, a tick either way; never below zero.
    backgroundCores: Math.max(0, (machineBusyCpuSeconds() - machineAtStart - cpu - sink) / seconds)
  }
}

/** `rounds` rounds of every runner over the same batches, rotating which goes first, so a drift in background load favours none. */
async function measureRounds(
  runners: Record<Runner, Destination<JSONObject>>,
  settings: JSONObject,
  batches: readonly SegmentEvent[][],
  rounds: number,
  sinkPid: number
): Promise<DestinationRates> {
  const order = Object.keys(runners) as Runner[]
  const results: Array<Record<Runner, Rate>> = []
  for (let round = 0; round < rounds; round++) {
    const rates = {} as Record<Runner, Rate>
    for (let i = 0; i < order.length; i++) {
      const runner = order[(round + i) % order.length]
      rates[runner] = await measure(runners[runner], settings, batches, sinkPid)
    }
    results.push(rates)
  }
  return {
    eventsPerSecond: median(results.map((r) => r.real.eventsPerSecond)),
    mapOnlyEventsPerSecond: median(results.map((r) => r.mapOnly.eventsPerSecond)),
    shareOfMapOnly: median(results.map((r) => r.real.eventsPerSecond / r.mapOnly.eventsPerSecond)),
    cpuShareOfMapOnly: median(results.map((r) => r.mapOnly.cpuMicrosPerEvent / r.real.cpuMicrosPerEvent)),
    cpuMicrosPerEvent: median(results.map((r) => r.real.cpuMicrosPerEvent)),
    mapOnlyCpuMicrosPerEvent: median(results.map((r) => r.mapOnly.cpuMicrosPerEvent)),
    noNetworkEventsPerSecond: median(results.map((r) => r.noNetwork.eventsPerSecond)),
    noNetworkCpuMicrosPerEvent: median(results.map((r) => r.noNetwork.cpuMicrosPerEvent)),
    sinkCpuMicrosPerEvent: median(results.map((r) => r.real.sinkCpuMicrosPerEvent)),
    backgroundCores: Math.max(...results.flatMap((r) => order.map((runner) => r[runner].backgroundCores))),
    rounds: results.map(
      (r) =>
        Object.fromEntries(
          order.map((runner) => [
            runner,
            { eventsPerSecond: r[runner].eventsPerSecond, cpuMicrosPerEvent: r[runner].cpuMicrosPerEvent }
          ])
        ) as Record<Runner, { eventsPerSecond: number; cpuMicrosPerEvent: number }>
    )
  }
}

export async function benchDestination(
  code: CodeUnderTest,
  sizes: DestinationSizes,
  workload: DestinationWorkload = ENGAGE_WORKLOAD
): Promise<DestinationFigures> {
  const definition = code.api.destination as unknown as DestinationDefinition<JSONObject>
  const batches = Array.from({ length: sizes.batchesPerRound }, (_, b) =>
    workload.events(sizes.batchEvents, b * sizes.batchEvents)
  )
  const warmup = batches.slice(0, Math.min(sizes.warmupBatches, batches.length))

  // Other users, distinct from the measured batches' (a runner sees no user twice in a warm-up).
  const small = Array.from({ length: sizes.steadyWarmupBatches }, (_, b) =>
    workload.events(
      sizes.steadyWarmupEvents,
      (sizes.batchesPerRound + 1) * sizes.batchEvents + b * sizes.steadyWarmupEvents
    )
  )

  const sink = await startSinkProcess()
  try {
    const settings = runnerSettings(workload.subscription(definition), sink.url)
    const runners: Record<Runner, Destination<JSONObject>> = {
      mapOnly: new Destination(mapOnly(definition, workload.action)),
      noNetwork: new Destination(noNetwork(definition, workload.action)),
      real: new Destination(definition)
    }
    const order = Object.keys(runners) as Runner[]
    for (const runner of order) await measure(runners[runner], settings, warmup, sink.pid)

    const before = await sink.stats()
    const firstBatches = await measureRounds(runners, settings, batches, sizes.rounds, sink.pid)
    const after = await sink.stats()
    const events = sizes.rounds * sizes.batchesPerRound * sizes.batchEvents

    for (const runner of order) await measure(runners[runner], settings, small, sink.pid)
    const steady = await measureRounds(runners, settings, batches, sizes.rounds, sink.pid)
    return {
      ...steady,
      firstBatches,
      requestsPerThousandEvents: ((after.requests - before.requests) / events) * 1000,
      wireBytesPerEvent: (after.wireBytes - before.wireBytes) / events,
      bodyBytesPerEvent: (after.bodyBytes - before.bodyBytes) / events
    }
  } finally {
    await sink.stop()
  }
}
