/**
 * The benchmark's result: the JSON written to bench/results/, the targets of SPEC §E judged against
 * it, and the tables printed to the terminal.
 */
import { formatVisibility, type VisibilityRun } from './visibility'
import { cpus, loadavg, totalmem } from 'node:os'
import { readFileSync } from 'node:fs'
import type { BigSegmentFigures } from './big-segment'
import type { CodeSource } from './code'
import type { ConsolePagesFigures } from './console'
import type { DestinationFigures } from './destination'
import type { ImportFigures } from './import'
import type { ReceiverRun } from './receiver'

export interface Machine {
  nproc: number
  cpuModel: string
  node: string
  memoryBytes: number
  /** 1-minute load average when the run started and ended: other work on the machine skews figures. */
  loadAverageStart: number
  loadAverageEnd: number
}

export interface Target {
  name: string
  /** What the target asks, e.g. "≥ 250,000 members/s". */
  goal: string
  actual: number
  unit: string
  pass: boolean
}

export interface BenchResult {
  generatedAt: string
  smoke: boolean
  code: CodeSource
  machine: Machine
  seconds: number
  /** Of which spent waiting for other work on the machine to pass. */
  quietWaitSeconds: number
  sizes: Record<string, unknown>
  /** Medians over the repeats, one entry per store × parser mode. */
  receiver: ReceiverRun[]
  /** Every repeat, for the record. */
  receiverRepeats: ReceiverRun[][]
  destination: DestinationFigures
  /** The same for syncWarehouseAudience and Reverse ETL rows (SPEC §E2). */
  warehouseDestination?: DestinationFigures
  bigSegment: BigSegmentFigures
  /** A `replace` import of one CSV file per store (§E2). */
  imports: ImportFigures[]
  /** Members/s with the sync history and metrics on against off (§F). */
  visibility?: VisibilityRun[]
  consolePages: ConsolePagesFigures
  targets: Target[]
}

export function describeMachine(loadAverageStart: number): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
  return {
    nproc: cpus().length,
    cpuModel: model ? model[1].trim() : (cpus()[0]?.model ?? 'unknown'),
    node: process.version,
    memoryBytes: totalmem(),
    loadAverageStart,
    loadAverageEnd: loadavg()[0]
  }
}

// Decimal megabytes: the stricter reading of "250 MB".
const MB = 1_000_000

export function judgeTargets(
  receiver: readonly ReceiverRun[],
  destination: DestinationFigures,
  big: BigSegmentFigures,
  imports: readonly ImportFigures[] = []
): Target[] {
  const targets: Target[] = []
  const at = (name: string, goal: string, actual: number, unit: string, pass: boolean): void => {
    targets.push({ name, goal, actual, unit, pass })
  }
  for (const run of receiver) {
    const label = `${run.store} ${run.mode}`
    if (run.store === 'sqlite') {
      at(
        `${label}: HTTP members/s`,
        '≥ 250,000',
        run.http.membersPerSecond,
        'members/s',
        run.http.membersPerSecond >= 250_000
      )
      at(
        `${label}: share of in-process limit`,
        '≥ 60 %',
        run.httpShareOfInProcess * 100,
        '%',
        run.httpShareOfInProcess >= 0.6
      )
      at(`${label}: p99 latency`, '≤ 50 ms', run.http.latencyP99Ms, 'ms', run.http.latencyP99Ms <= 50)
    } else {
      at(
        `${label}: HTTP members/s`,
        '≥ 150,000',
        run.http.membersPerSecond,
        'members/s',
        run.http.membersPerSecond >= 150_000
      )
    }
  }
  at(
    'destination: share of map-only rate (steady state)',
    '≥ 90 %',
    destination.shareOfMapOnly * 100,
    '%',
    destination.shareOfMapOnly >= 0.9
  )
  at(
    `${big.members.toLocaleString('en')}-member segment: receiver peak RSS`,
    '< 250 MB',
    big.peakRssBytes / MB,
    'MB',
    big.peakRssBytes < 250 * MB
  )
  for (const run of imports) {
    const label = `${run.store} replace import of ${run.keys.toLocaleString('en')} keys`
    const goal = run.store === 'sqlite' ? 300_000 : 100_000
    at(
      `${label}: keys/s`,
      `≥ ${goal.toLocaleString('en')}`,
      run.keysPerSecond,
      'keys/s',
      run.keysPerSecond >= goal
    )
    if (run.store === 'sqlite')
      at(`${label}: receiver peak RSS`, '< 250 MB', run.peakRssBytes / MB, 'MB', run.peakRssBytes < 250 * MB)
  }
  return targets
}

/** SPEC §E2: syncWarehouseAudience at the share of the map-only rate asked of syncAudience. */
export function judgeWarehouseDestination(warehouse: DestinationFigures): Target {
  return {
    name: 'syncWarehouseAudience: share of map-only rate (steady state)',
    goal: '≥ 90 %',
    actual: warehouse.shareOfMapOnly * 100,
    unit: '%',
    pass: warehouse.shareOfMapOnly >= 0.9
  }
}

export function int(value: number): string {
  return Math.round(value).toLocaleString('en')
}

function fixed(value: number, digits: number): string {
  return value.toFixed(digits)
}

export function pct(ratio: number): string {
  return `${Math.round(ratio * 100)} %`
}

function mb(bytes: number): string {
  return `${Math.round(bytes / MB)} MB`
}

/** Columns padded to their widest cell; cells that start with a number are right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (/^\d/.test(cell) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function formatResult(result: BenchResult): string {
  const { machine, destination: d, bigSegment: b } = result
  const sizes = result.sizes as {
    receiver: { membersPerRequest: number; connections: number; repeats: number }
  }
  const out: string[] = []
  out.push(
    `synced-segments benchmark${result.smoke ? ' (SMOKE: tiny sizes, figures meaningless)' : ''} — ${result.generatedAt}`,
    `${machine.nproc} × ${machine.cpuModel}, node ${machine.node}, load average ${fixed(machine.loadAverageStart, 2)} → ${fixed(machine.loadAverageEnd, 2)}, code from ${result.code}/, ${fixed(result.seconds, 0)} s (${fixed(result.quietWaitSeconds, 0)} s of it waiting for other work to pass)`,
    '',
    `Receiver: ${sizes.receiver.membersPerRequest}-member requests, ${sizes.receiver.connections} connections, median of ${sizes.receiver.repeats}`,
    table(
      [
        'store',
        'parser mode',
        'integration',
        'HTTP members/s',
        'in-process members/s',
        'HTTP / in-process',
        'p50',
        'p99',
        'peak RSS'
      ],
      result.receiver.map((r) => [
        r.store,
        r.mode,
        r.integration,
        int(r.http.membersPerSecond),
        int(r.inProcess.membersPerSecond),
        pct(r.httpShareOfInProcess),
        `${fixed(r.http.latencyP50Ms, 1)} ms`,
        `${fixed(r.http.latencyP99Ms, 1)} ms`,
        mb(r.http.peakRssBytes)
      ])
    ),
    '',
    'Where the CPU goes, per member (µs), over HTTP and in process; "other load": the rest of the machine meanwhile (HTTP / in process)',
    table(
      [
        'store',
        'parser mode',
        'receiver',
        'autocannon',
        'redis-server',
        'in-process',
        'in-process redis-server',
        'other load'
      ],
      result.receiver.map((r) => [
        r.store,
        r.mode,
        fixed(r.http.receiverCpuMicrosPerMember, 2),
        fixed(r.http.loadGeneratorCpuMicrosPerMember, 2),
        r.http.storeServerCpuMicrosPerMember === undefined
          ? '-'
          : fixed(r.http.storeServerCpuMicrosPerMember, 2),
        fixed(r.inProcess.cpuMicrosPerMember, 2),
        r.inProcess.storeServerCpuMicrosPerMember === undefined
          ? '-'
          : fixed(r.inProcess.storeServerCpuMicrosPerMember, 2),
        `${fixed(r.http.backgroundCores, 2)} / ${fixed(r.inProcess.backgroundCores, 2)} cores`
      ])
    ),
    '',
    "Destination: Destination.onBatch, preset mapping (syncWarehouseAudience: its default mapping, mirror), 204 sink in another process; medians of each phase's rounds",
    table(
      [
        'phase',
        'real events/s',
        'map-only events/s',
        'real / map-only',
        'CPU: map-only / real',
        'no-network events/s',
        'CPU µs/event: map-only / no-network / real',
        'sink CPU µs/event',
        'other load'
      ],
      [
        ['first batches', d.firstBatches] as const,
        [`steady state (judged)`, d] as const,
        ...(result.warehouseDestination
          ? ([
              ['syncWarehouseAudience: first batches', result.warehouseDestination.firstBatches],
              ['syncWarehouseAudience: steady state (judged)', result.warehouseDestination]
            ] as const)
          : [])
      ].map(([phase, r]) => [
        phase,
        int(r.eventsPerSecond),
        int(r.mapOnlyEventsPerSecond),
        pct(r.shareOfMapOnly),
        pct(r.cpuShareOfMapOnly),
        int(r.noNetworkEventsPerSecond),
        `${fixed(r.mapOnlyCpuMicrosPerEvent, 2)} / ${fixed(r.noNetworkCpuMicrosPerEvent, 2)} / ${fixed(r.cpuMicrosPerEvent, 2)}`,
        fixed(r.sinkCpuMicrosPerEvent, 2),
        `${fixed(r.backgroundCores, 2)} cores`
      ])
    ),
    `requests per 1000 events ${fixed(d.requestsPerThousandEvents, 1)}, bytes/event on the wire ${fixed(d.wireBytesPerEvent, 1)}, body bytes/event ${fixed(d.bodyBytesPerEvent, 1)}`,
    '',
    `Big segment (SQLite, ${int(b.members)} members)`,
    table(
      ['phase', 'time', 'rate', 'latency p50 / p99', 'receiver peak RSS'],
      [
        [
          'load through the receiver',
          `${fixed(b.loadSeconds, 2)} s`,
          `${int(b.loadMembersPerSecond)} members/s`,
          '',
          mb(b.loadPeakRssBytes)
        ],
        [
          'member lookups',
          '',
          `${int(b.lookupsPerSecond)} lookups/s`,
          `${fixed(b.lookupP50Ms, 2)} / ${fixed(b.lookupP99Ms, 2)} ms`,
          mb(b.lookupPeakRssBytes)
        ],
        [
          'listing, one streamed response',
          `${fixed(b.streamedListingSeconds, 2)} s`,
          `${fixed(b.streamedListingBytes / MB, 1)} MB of JSON`,
          '',
          mb(b.streamedListingPeakRssBytes)
        ],
        [
          'listing, cursor pages',
          `${fixed(b.pagedListingSeconds, 2)} s`,
          `${int(b.pagedListingPages)} pages`,
          '',
          mb(b.pagedListingPeakRssBytes)
        ]
      ]
    ),
    ...(result.visibility ? ['', ...formatVisibility(result.visibility, sizes.receiver.repeats)] : []),
    '',
    'Replace import of one CSV file (SPEC §E2)',
    table(
      [
        'store',
        'keys',
        'file',
        'time',
        'upload + staging / applying',
        'rate',
        'CPU: receiver / redis-server',
        'added / removed',
        'receiver peak RSS'
      ],
      result.imports.map((i) => [
        i.store,
        int(i.keys),
        `${fixed(i.fileBytes / MB, 1)} MB`,
        `${fixed(i.seconds, 2)} s`,
        // Older result files have no split.
        i.uploadSeconds === undefined
          ? '-'
          : `${fixed(i.uploadSeconds, 2)} / ${fixed(i.seconds - i.uploadSeconds, 2)} s`,
        `${int(i.keysPerSecond)} keys/s`,
        `${fixed(i.receiverCpuSeconds, 2)} / ${i.storeServerCpuSeconds === undefined ? '-' : fixed(i.storeServerCpuSeconds, 2)} s`,
        `${int(i.added)} / ${int(i.removed)}`,
        mb(i.peakRssBytes)
      ])
    ),
    '',
    'Targets (SPEC §E, 2 cores)',
    table(
      ['', 'target', 'goal', 'actual'],
      result.targets.map((t) => [
        t.pass ? 'PASS' : 'FAIL',
        t.name,
        t.goal,
        `${t.unit === 'members/s' || t.unit === 'keys/s' ? int(t.actual) : fixed(t.actual, 1)} ${t.unit}`
      ])
    )
  )
  return out.join('\n')
}
