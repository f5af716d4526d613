/**
 * What the sync history and the metrics cost (SPEC §F, §E2): receiver members/s over HTTP with both
 * on (the default) against both off, per store, boolean mode. On and off alternate, repeat after
 * repeat, so drift on the machine falls on both alike; the loss is judged on the medians.
 */
import type { CodeUnderTest } from './code'
import { BENCH_CLIENT_ID } from './receiver-process'
import { int, pct, table, type Target } from './report'
import { httpRun, type ReceiverSizes } from './receiver'
import { median } from './stats'
import { STORE_KINDS, type StoreKind } from './stores'
import { buildBodies, INTEGRATION_FOR } from './workloads'

export interface VisibilityRun {
  store: StoreKind
  mode: 'boolean'
  /** Members/s of each repeat, history and metrics on / off. */
  onMembersPerSecond: number[]
  offMembersPerSecond: number[]
  onMedian: number
  offMedian: number
  onLatencyP99Ms: number
  offLatencyP99Ms: number
  /** 1 - on / off: the share of throughput the history and metrics cost (negative: none measurable). */
  loss: number
}

export async function benchVisibility(
  code: CodeUnderTest,
  sizes: ReceiverSizes & { repeats: number },
  beforeMeasure?: () => Promise<unknown>
): Promise<VisibilityRun[]> {
  const mode = 'boolean' as const
  const integration = INTEGRATION_FOR[mode]
  const count = sizes.warmupRequests + sizes.requests + 4 * sizes.connections
  const bodies = buildBodies(mode, 0, count, sizes.membersPerRequest, BENCH_CLIENT_ID)
  const runs: VisibilityRun[] = []
  for (const store of STORE_KINDS) {
    const on: { membersPerSecond: number; latencyP99Ms: number }[] = []
    const off: { membersPerSecond: number; latencyP99Ms: number }[] = []
    for (let repeat = 0; repeat < sizes.repeats; repeat++) {
      for (const visibility of repeat % 2 === 0 ? [true, false] : [false, true]) {
        await beforeMeasure?.()
        const figures = await httpRun(code, store, integration, bodies, sizes, undefined, visibility)
        ;(visibility ? on : off).push(figures)
      }
    }
    const onMedian = median(on.map((f) => f.membersPerSecond))
    const offMedian = median(off.map((f) => f.membersPerSecond))
    runs.push({
      store,
      mode,
      onMembersPerSecond: on.map((f) => f.membersPerSecond),
      offMembersPerSecond: off.map((f) => f.membersPerSecond),
      onMedian,
      offMedian,
      onLatencyP99Ms: median(on.map((f) => f.latencyP99Ms)),
      offLatencyP99Ms: median(off.map((f) => f.latencyP99Ms)),
      loss: 1 - onMedian / offMedian
    })
  }
  return runs
}

/** §F: the loss at most 5 % per store; §E2: SQLite boolean at least 500,000 members/s with both on. */
export function judgeVisibility(runs: readonly VisibilityRun[]): Target[] {
  const targets: Target[] = []
  for (const run of runs) {
    targets.push({
      name: `${run.store} ${run.mode}: members/s lost to history + metrics`,
      goal: '≤ 5 %',
      actual: run.loss * 100,
      unit: '%',
      pass: run.loss <= 0.05
    })
    if (run.store === 'sqlite') {
      targets.push({
        name: `${run.store} ${run.mode}: HTTP members/s with history + metrics`,
        goal: '≥ 500,000',
        actual: run.onMedian,
        unit: 'members/s',
        pass: run.onMedian >= 500_000
      })
    }
  }
  return targets
}

export function formatVisibility(runs: readonly VisibilityRun[], repeats: number): string[] {
  return [
    `Sync history and metrics on (the default) against off, boolean mode, median of ${repeats} alternating runs each`,
    table(
      ['store', 'on members/s', 'off members/s', 'on / off', 'loss', 'p99 on', 'p99 off'],
      runs.map((run) => [
        run.store,
        int(run.onMedian),
        int(run.offMedian),
        pct(run.onMedian / run.offMedian),
        `${(run.loss * 100).toFixed(1)} %`,
        `${run.onLatencyP99Ms.toFixed(1)} ms`,
        `${run.offLatencyP99Ms.toFixed(1)} ms`
      ])
    )
  ]
}
