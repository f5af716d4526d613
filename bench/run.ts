/**
 * `npm run bench`: SPEC §E measured in one run — receiver throughput per parser mode and store
 * (over HTTP and in process), the destination against its own engine, and a 1,000,000-member
 * segment, a `replace` import per store — printed as tables with the targets judged, and written to bench/results/latest.json.
 *
 *   ts-node bench/run.ts [--smoke] [--from dist|src] [--out FILE] [--cpu-prof DIR]
 *
 * --smoke     tiny sizes (seconds, for the test suite); figures are meaningless
 * --from      the code under test: dist/ (default, run `npm run build` first) or src/ via ts-node
 * --out       where to write the JSON (default bench/results/latest.json; smoke: a temporary file)
 * --cpu-prof  write a V8 CPU profile of every receiver process of the throughput and import runs into DIR
 *             (summarise them with bench/profile-summary.ts; profiling slows the receiver, so such a
 *             run is for finding where time goes, not for the figures)
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { benchBigSegment, type BigSegmentSizes } from './big-segment'
import { loadCode, type CodeSource } from './code'
import { benchConsolePages, consoleTargets, type ConsolePagesSizes } from './console'
import { benchDestination, WAREHOUSE_WORKLOAD, type DestinationSizes } from './destination'
import { benchReceiver, type ReceiverRun, type ReceiverSizes } from './receiver'
import { benchImport, type ImportFigures, type ImportSizes } from './import'
import {
  describeMachine,
  formatResult,
  judgeTargets,
  judgeWarehouseDestination,
  type BenchResult
} from './report'
import { benchVisibility, judgeVisibility } from './visibility'
import { quietGate } from './quiet'
import { median } from './stats'
import { STORE_KINDS } from './stores'
import { PARSER_MODES } from './workloads'

interface Sizes {
  /** How long the whole run may wait for other work on the machine to pass (0: never wait). */
  quietBudgetSeconds: number
  receiver: ReceiverSizes & { repeats: number }
  destination: DestinationSizes
  bigSegment: BigSegmentSizes
  imports: ImportSizes
  consolePages: ConsolePagesSizes
}

/** About two minutes on 2 cores: 3 × 6 receiver runs of 600 requests, 2 × 7 destination rounds, the big segment. */
const FULL: Sizes = {
  quietBudgetSeconds: 90,
  receiver: { membersPerRequest: 1000, connections: 8, warmupRequests: 40, requests: 600, repeats: 3 },
  destination: {
    batchEvents: 1000,
    warmupBatches: 3,
    rounds: 7,
    batchesPerRound: 8,
    steadyWarmupBatches: 2000,
    steadyWarmupEvents: 10
  },
  bigSegment: { requests: 1000, membersPerRequest: 1000, connections: 8, lookups: 20_000, pageSize: 10_000 },
  imports: { keys: 1_000_000, seedRequests: 10 },
  consolePages: { members: 1_000_000, renders: 100 }
}

/** Every code path of FULL, in seconds. */
const SMOKE: Sizes = {
  quietBudgetSeconds: 0,
  receiver: { membersPerRequest: 50, connections: 2, warmupRequests: 4, requests: 12, repeats: 1 },
  destination: {
    batchEvents: 50,
    warmupBatches: 1,
    rounds: 1,
    batchesPerRound: 2,
    steadyWarmupBatches: 2,
    steadyWarmupEvents: 5
  },
  bigSegment: { requests: 20, membersPerRequest: 100, connections: 2, lookups: 100, pageSize: 500 },
  imports: { keys: 2000, seedRequests: 1 },
  consolePages: { members: 25_000, renders: 5 }
}

/** Field-wise median of figure objects (all fields numeric). */
function medianOf<T extends object>(figures: readonly T[]): T {
  const keys = Object.keys(figures[0]) as Array<keyof T & string>
  return Object.fromEntries(
    keys.map((key) => [key, median(figures.map((f) => f[key] as number))])
  ) as unknown as T
}

/** The median of the repeats of one store × mode; the share is recomputed from the medians. */
function medianRun(runs: readonly ReceiverRun[]): ReceiverRun {
  const http = medianOf(runs.map((run) => run.http))
  const inProcess = medianOf(runs.map((run) => run.inProcess))
  return {
    ...runs[0],
    http,
    inProcess,
    httpShareOfInProcess: http.membersPerSecond / inProcess.membersPerSecond
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      from: { type: 'string', default: 'dist' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' }
    }
  })
  if (values.from !== 'dist' && values.from !== 'src')
    throw new Error(`--from must be dist or src, got ${values.from}`)
  const smoke = values.smoke === true
  const sizes = smoke ? SMOKE : FULL
  const out = resolve(
    values.out ??
      (smoke ? join(tmpdir(), 'synced-segments-bench-smoke.json') : join(__dirname, 'results', 'latest.json'))
  )
  const cpuProfDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof'])
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true })

  const loadAverageStart = loadavg()[0]
  const startedAt = performance.now()
  const code = await loadCode(values.from as CodeSource)
  const progress = (line: string): void => {
    process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${line}\n`)
  }

  const quiet = quietGate(sizes.quietBudgetSeconds, (busyCores) =>
    progress(`waiting: other work is using ${busyCores.toFixed(2)} cores`)
  )

  const repeats: ReceiverRun[][] = []
  for (let repeat = 0; repeat < sizes.receiver.repeats; repeat++) {
    const runs: ReceiverRun[] = []
    for (const store of STORE_KINDS) {
      for (const mode of PARSER_MODES) {
        const run = await benchReceiver(code, store, mode, sizes.receiver, {
          cpuProfDir,
          beforeMeasure: quiet.wait
        })
        progress(
          `receiver ${store} ${mode} (${repeat + 1}/${sizes.receiver.repeats}): ${Math.round(run.http.membersPerSecond).toLocaleString('en')} members/s over HTTP, ` +
            `${Math.round(run.inProcess.membersPerSecond).toLocaleString('en')} in process, p99 ${run.http.latencyP99Ms.toFixed(1)} ms, ` +
            `other load ${run.http.backgroundCores.toFixed(2)} / ${run.inProcess.backgroundCores.toFixed(2)} cores`
        )
        runs.push(run)
      }
    }
    repeats.push(runs)
  }
  const receiver = repeats[0].map((_, i) => medianRun(repeats.map((runs) => runs[i])))

  const visibility = await benchVisibility(code, sizes.receiver, quiet.wait)
  for (const run of visibility) {
    progress(
      `history + metrics ${run.store}: ${Math.round(run.onMedian).toLocaleString('en')} members/s on, ` +
        `${Math.round(run.offMedian).toLocaleString('en')} off, loss ${(run.loss * 100).toFixed(1)} %`
    )
  }

  await quiet.wait()
  const destination = await benchDestination(code, sizes.destination)
  progress(
    `destination: ${Math.round(destination.eventsPerSecond).toLocaleString('en')} events/s, ${Math.round(destination.shareOfMapOnly * 100)} % of map-only ` +
      `(first batches ${Math.round(destination.firstBatches.eventsPerSecond).toLocaleString('en')}, ${Math.round(destination.firstBatches.shareOfMapOnly * 100)} %), ` +
      `other load ${destination.firstBatches.backgroundCores.toFixed(2)} / ${destination.backgroundCores.toFixed(2)} cores`
  )

  await quiet.wait()
  const warehouseDestination = await benchDestination(code, sizes.destination, WAREHOUSE_WORKLOAD)
  progress(
    `destination syncWarehouseAudience: ${Math.round(warehouseDestination.eventsPerSecond).toLocaleString('en')} events/s, ` +
      `${Math.round(warehouseDestination.shareOfMapOnly * 100)} % of map-only`
  )

  await quiet.wait()
  const bigSegment = await benchBigSegment(code, sizes.bigSegment)
  progress(
    `big segment: ${bigSegment.members.toLocaleString('en')} members loaded in ${bigSegment.loadSeconds.toFixed(2)} s`
  )

  const imports: ImportFigures[] = []
  for (const store of STORE_KINDS) {
    await quiet.wait()
    const run = await benchImport(code, store, sizes.imports, cpuProfDir)
    progress(`${store} replace import: ${run.keys.toLocaleString('en')} keys in ${run.seconds.toFixed(2)} s`)
    imports.push(run)
  }
  await quiet.wait()
  const consolePages = await benchConsolePages(code, sizes.consolePages)
  progress(
    `console: ${consolePages.members.toLocaleString('en')}-member segment, segment page p99 ${consolePages.segmentPage.p99Ms.toFixed(1)} ms, ` +
      `members page p99 ${consolePages.middleMembersPage.p99Ms.toFixed(1)} ms`
  )

  const result: BenchResult = {
    generatedAt: new Date().toISOString(),
    smoke,
    code: code.source,
    machine: describeMachine(loadAverageStart),
    seconds: (performance.now() - startedAt) / 1000,
    quietWaitSeconds: quiet.waited(),
    sizes: { ...sizes },
    receiver,
    receiverRepeats: repeats,
    destination,
    warehouseDestination,
    bigSegment,
    imports,
    visibility,
    consolePages,
    targets: [
      ...judgeTargets(receiver, destination, bigSegment, imports),
      judgeWarehouseDestination(warehouseDestination),
      ...judgeVisibility(visibility),
      ...consoleTargets(consolePages)
    ]
  }
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  process.stdout.write(`${formatResult(result)}\n\nwritten to ${out}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`
  )
  process.exit(1)
})
