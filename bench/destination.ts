/**
 * Destination throughput through actions-core's own runner (`Destination.onBatch`, the preset's
 * subscription and mapping), against a 204 sink in another process; and the same events through a
 * copy of the definition whose syncAudience only maps (performBatch returns at once) — the
 * engine's own cost, the ceiling any action can reach. A third copy runs the real performBatch
 * with a request client that answers 204 without sending, which splits the gap between the two into
 * the action's own work (planning, the multi-status) and HTTP.
 */
import { spawn } from 'node:child_process'
import { get } from 'node:http'
import { join } from 'node:path'
import {
  Destination,
  type DestinationDefinition,
  type JSONObject,
  type RequestClient,
  type SegmentEvent
} from '@segment/actions-core'
import type { CodeUnderTest } from './code'
import { ownCpuSeconds } from './cpu'
import { STATS_PATH, type SinkStats } from './sink'
import { median } from './stats'

export interface DestinationSizes {
  /** Events per onBatch call (Segment's batch). */
  batchEvents: number
  warmupBatches: number
  /** Rounds of (map-only, no-network, real) measurements, rotating which goes first. */
  rounds: number
  batchesPerRound: number
}

export interface DestinationFigures {
  /** Medians over the rounds. */
  eventsPerSecond: number
  mapOnlyEventsPerSecond: number
  /** Median of each round's real / map-only ratio (paired, so background load cancels out). */
  shareOfMapOnly: number
  /** CPU time of the runner's process per event (the sink is another process), medians. */
  cpuMicrosPerEvent: number
  mapOnlyCpuMicrosPerEvent: number
  /** The real performBatch with a request client that answers 204 at once: everything but HTTP. */
  noNetworkEventsPerSecond: number
  noNetworkCpuMicrosPerEvent: number
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

/** The definition with a syncAudience that maps and validates like the real one, then does nothing. */
export function mapOnly(definition: DestinationDefinition<JSONObject>): DestinationDefinition<JSONObject> {
  const action = definition.actions.syncAudience
  return {
    ...definition,
    actions: {
      ...definition.actions,
      syncAudience: { ...action, perform: () => undefined, performBatch: () => undefined }
    }
  }
}

/** The definition with the real syncAudience, whose requests are answered 204 without being sent. */
export function noNetwork(definition: DestinationDefinition<JSONObject>): DestinationDefinition<JSONObject> {
  const action = definition.actions.syncAudience
  const performBatch = action.performBatch
  if (!performBatch) throw new Error('syncAudience has no performBatch')
  const answer204 = (async () => ({ status: 204, data: null, content: '' })) as unknown as RequestClient
  return {
    ...definition,
    actions: {
      ...definition.actions,
      syncAudience: { ...action, performBatch: (_request, data) => performBatch(answer204, data) }
    }
  }
}

function runnerSettings(definition: DestinationDefinition<JSONObject>, apiBaseUrl: string): JSONObject {
  const preset = definition.presets?.find((p) => p.type === 'automatic')
  if (!preset || preset.type !== 'automatic') throw new Error('the destination has no automatic preset')
  return {
    apiKey: 'api-bench-token',
    clientId: 'bench-client-id',
    apiBaseUrl,
    subscriptions: [
      {
        name: preset.name,
        partnerAction: preset.partnerAction,
        subscribe: preset.subscribe,
        mapping: preset.mapping
      }
    ]
  } as unknown as JSONObject
}

async function startSinkProcess(): Promise<{
  url: string
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

/** Events per second through onBatch; every event must come back a success. */
interface Rate {
  eventsPerSecond: number
  cpuMicrosPerEvent: number
}

/** Events per second (and CPU per event) through onBatch; every event must come back a success. */
async function measure(
  destination: Destination<JSONObject>,
  settings: JSONObject,
  batches: readonly SegmentEvent[][]
): Promise<Rate> {
  const startedAt = performance.now()
  const cpuAtStart = ownCpuSeconds()
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
  const events = batches.reduce((n, b) => n + b.length, 0)
  return {
    eventsPerSecond: events / seconds,
    cpuMicrosPerEvent: ((ownCpuSeconds() - cpuAtStart) * 1e6) / events
  }
}

export async function benchDestination(
  code: CodeUnderTest,
  sizes: DestinationSizes
): Promise<DestinationFigures> {
  const definition = code.api.destination as unknown as DestinationDefinition<JSONObject>
  const batches = Array.from({ length: sizes.batchesPerRound }, (_, b) =>
    engageEvents(sizes.batchEvents, b * sizes.batchEvents)
  )
  const warmup = batches.slice(0, Math.min(sizes.warmupBatches, batches.length))

  const sink = await startSinkProcess()
  try {
    const settings = runnerSettings(definition, sink.url)
    const runners = {
      mapOnly: new Destination(mapOnly(definition)),
      noNetwork: new Destination(noNetwork(definition)),
      real: new Destination(definition)
    }
    type Runner = keyof typeof runners
    const order = Object.keys(runners) as Runner[]
    for (const runner of order) await measure(runners[runner], settings, warmup)

    const before = await sink.stats()
    const rounds: Array<Record<Runner, Rate>> = []
    for (let round = 0; round < sizes.rounds; round++) {
      // Rotate which goes first, so a drift in background load favours none.
      const rates = {} as Record<Runner, Rate>
      for (let i = 0; i < order.length; i++) {
        const runner = order[(round + i) % order.length]
        rates[runner] = await measure(runners[runner], settings, batches)
      }
      rounds.push(rates)
    }
    const after = await sink.stats()
    const events = sizes.rounds * sizes.batchesPerRound * sizes.batchEvents
    return {
      eventsPerSecond: median(rounds.map((r) => r.real.eventsPerSecond)),
      mapOnlyEventsPerSecond: median(rounds.map((r) => r.mapOnly.eventsPerSecond)),
      shareOfMapOnly: median(rounds.map((r) => r.real.eventsPerSecond / r.mapOnly.eventsPerSecond)),
      cpuMicrosPerEvent: median(rounds.map((r) => r.real.cpuMicrosPerEvent)),
      mapOnlyCpuMicrosPerEvent: median(rounds.map((r) => r.mapOnly.cpuMicrosPerEvent)),
      noNetworkEventsPerSecond: median(rounds.map((r) => r.noNetwork.eventsPerSecond)),
      noNetworkCpuMicrosPerEvent: median(rounds.map((r) => r.noNetwork.cpuMicrosPerEvent)),
      requestsPerThousandEvents: ((after.requests - before.requests) / events) * 1000,
      wireBytesPerEvent: (after.wireBytes - before.wireBytes) / events,
      bodyBytesPerEvent: (after.bodyBytes - before.bodyBytes) / events
    }
  } finally {
    await sink.stop()
  }
}
