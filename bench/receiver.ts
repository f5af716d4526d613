/**
 * Receiver throughput per parser mode and store: over HTTP (a `serve` process under autocannon) and
 * in process (JSON.parse + parseRequest + store.apply of the same bodies, no HTTP) — the limit the
 * HTTP figure is a share of.
 */
import type { CodeUnderTest } from './code'
import { machineBusyCpuSeconds, ownCpuSeconds } from './cpu'
import { runLoad } from './load'
import {
  BENCH_CLIENT_ID,
  BENCH_ENVIRONMENT,
  BENCH_PROJECT,
  BENCH_TOKEN,
  startReceiverProcess,
  writeBenchConfig
} from './receiver-process'
import { freshStore, type StoreKind } from './stores'
import { buildBodies, INTEGRATION_FOR, type ParserMode } from './workloads'

export interface ReceiverSizes {
  membersPerRequest: number
  connections: number
  /** Requests before the clock starts (JIT, connection set-up, first segment rows). */
  warmupRequests: number
  requests: number
}

export interface HttpFigures {
  membersPerSecond: number
  requestsPerSecond: number
  seconds: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
  peakRssBytes: number
  /** CPU time per member of the receiver process (all threads), of autocannon (the bench process) and of redis-server. */
  receiverCpuMicrosPerMember: number
  loadGeneratorCpuMicrosPerMember: number
  storeServerCpuMicrosPerMember?: number
  /**
   * CPU the rest of the machine used meanwhile, in cores (busy time from /proc/stat minus the
   * processes above, over the run's wall time): how much other work disturbed the figure.
   */
  backgroundCores: number
}

export interface InProcessFigures {
  membersPerSecond: number
  seconds: number
  /** CPU time per member of the bench process (parse + apply), and of redis-server. */
  cpuMicrosPerMember: number
  storeServerCpuMicrosPerMember?: number
  /** As for HTTP: the rest of the machine's CPU meanwhile, in cores. */
  backgroundCores: number
}

/** CPU time used by the processes of a measurement, sampled before and after it. */
function cpuMeter(sources: Record<string, (() => number) | undefined>): () => Record<string, number> {
  const start = Object.entries(sources).map(([name, read]) => [name, read?.()] as const)
  return () => {
    const used: Record<string, number> = {}
    for (const [name, before] of start) {
      const read = sources[name]
      if (read && before !== undefined) used[name] = read() - before
    }
    return used
  }
}

function microsPer(seconds: number | undefined, count: number): number | undefined {
  return seconds === undefined ? undefined : (seconds * 1e6) / count
}

export interface ReceiverRun {
  store: StoreKind
  mode: ParserMode
  integration: string
  http: HttpFigures
  inProcess: InProcessFigures
  /** http.membersPerSecond / inProcess.membersPerSecond */
  httpShareOfInProcess: number
}

export function syncPath(integrationKey: string): string {
  return `/api/v2/segment-targets/${integrationKey}`
}

export const SYNC_HEADERS = { authorization: BENCH_TOKEN, 'content-type': 'application/json' }

/** Runs `work` over `items` with at most `concurrency` in flight, like `concurrency` clients would. */
export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

/** Sends one body with fetch and insists on a 2xx, so a misconfigured run fails with the receiver's message. */
export async function postOnce(url: string, path: string, body: Buffer): Promise<void> {
  const response = await fetch(url + path, {
    method: 'POST',
    headers: SYNC_HEADERS,
    body: body.toString('utf8')
  })
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`)
}

/** One receiver process under load; `visibility` false turns the sync history and metrics off. */
export async function httpRun(
  code: CodeUnderTest,
  kind: StoreKind,
  integrationKey: string,
  bodies: Buffer[],
  sizes: ReceiverSizes,
  cpuProfDir: string | undefined,
  visibility = true
): Promise<HttpFigures> {
  const store = await freshStore(kind)
  const receiver = await startReceiverProcess(code, {
    store: store.spec,
    dataDir: store.dataDir,
    configFile: writeBenchConfig(store.dataDir, visibility),
    cpuProfDir
  })
  try {
    const path = syncPath(integrationKey)
    await postOnce(receiver.url, path, bodies[0])
    const post = (n: number) => ({ method: 'POST', path, headers: SYNC_HEADERS, body: bodies[n] })
    await runLoad({
      url: receiver.url,
      connections: sizes.connections,
      amount: sizes.warmupRequests - 1,
      request: (n) => post(1 + n)
    })
    const cpu = cpuMeter({
      receiver: receiver.cpuSeconds,
      loadGenerator: () => ownCpuSeconds(),
      store: store.serverCpuSeconds,
      machine: machineBusyCpuSeconds
    })
    const load = await runLoad({
      url: receiver.url,
      connections: sizes.connections,
      amount: sizes.requests,
      request: (n) => post(sizes.warmupRequests + n)
    })
    const used = cpu()
    const members = load.requests * sizes.membersPerRequest
    return {
      membersPerSecond: members / load.seconds,
      requestsPerSecond: load.requests / load.seconds,
      seconds: load.seconds,
      latencyP50Ms: load.latencyP50Ms,
      latencyP99Ms: load.latencyP99Ms,
      latencyMaxMs: load.latencyMaxMs,
      peakRssBytes: receiver.peakRssBytes(),
      receiverCpuMicrosPerMember: microsPer(used.receiver, members) as number,
      loadGeneratorCpuMicrosPerMember: microsPer(used.loadGenerator, members) as number,
      ...(used.store === undefined ? {} : { storeServerCpuMicrosPerMember: microsPer(used.store, members) }),
      // /proc/stat ticks are 10 ms: a short run can come out a hair below zero.
      backgroundCores: Math.max(
        0,
        (used.machine - used.receiver - used.loadGenerator - (used.store ?? 0)) / load.seconds
      )
    }
  } finally {
    await receiver.stop()
    await store.dispose()
  }
}

async function inProcessRun(
  code: CodeUnderTest,
  kind: StoreKind,
  integrationKey: string,
  bodies: Buffer[],
  sizes: ReceiverSizes
): Promise<InProcessFigures> {
  const { api } = code
  const integration = api.loadIntegrations([api.BUNDLED_INTEGRATIONS_DIR]).get(integrationKey)
  if (!integration) throw new Error(`no bundled integration ${integrationKey}`)
  const fresh = await freshStore(kind)
  const store = await api.openStore(fresh.spec, fresh.dataDir)
  const env = { projectKey: BENCH_PROJECT, environmentKey: BENCH_ENVIRONMENT }
  // What the segment-targets route does between the body parser and the response, minus HTTP.
  const apply = async (body: Buffer): Promise<void> => {
    const parsed = api.parseRequest(integration, JSON.parse(body.toString('utf8')))
    if (parsed.environmentId !== BENCH_CLIENT_ID)
      throw new Error(`unexpected environment ${parsed.environmentId}`)
    const changes = parsed.cohorts.map((cohort) => ({
      segmentKey: api.segmentKeyFor(integration.key, cohort.cohortId),
      name: cohort.cohortName,
      contextKind: parsed.contextKind,
      integrationKey: integration.key,
      externalLink: cohort.cohortUrl,
      ops: cohort.ops
    }))
    await store.apply(env, changes, { allowCreate: true })
  }
  try {
    await forEachConcurrent(bodies.slice(0, sizes.warmupRequests), sizes.connections, apply)
    const measured = bodies.slice(sizes.warmupRequests, sizes.warmupRequests + sizes.requests)
    const members = measured.length * sizes.membersPerRequest
    const cpu = cpuMeter({
      bench: () => ownCpuSeconds(),
      store: fresh.serverCpuSeconds,
      machine: machineBusyCpuSeconds
    })
    const startedAt = performance.now()
    await forEachConcurrent(measured, sizes.connections, apply)
    const seconds = (performance.now() - startedAt) / 1000
    const used = cpu()
    return {
      membersPerSecond: members / seconds,
      seconds,
      cpuMicrosPerMember: microsPer(used.bench, members) as number,
      ...(used.store === undefined ? {} : { storeServerCpuMicrosPerMember: microsPer(used.store, members) }),
      backgroundCores: Math.max(0, (used.machine - used.bench - (used.store ?? 0)) / seconds)
    }
  } finally {
    await store.close()
    await fresh.dispose()
  }
}

export async function benchReceiver(
  code: CodeUnderTest,
  kind: StoreKind,
  mode: ParserMode,
  sizes: ReceiverSizes,
  options: { cpuProfDir?: string; beforeMeasure?: () => Promise<unknown> } = {}
): Promise<ReceiverRun> {
  const integration = INTEGRATION_FOR[mode]
  // Spare bodies: autocannon may ask for a request or two it never sends.
  const count = sizes.warmupRequests + sizes.requests + 4 * sizes.connections
  const bodies = buildBodies(mode, 0, count, sizes.membersPerRequest, BENCH_CLIENT_ID)
  await options.beforeMeasure?.()
  const http = await httpRun(code, kind, integration, bodies, sizes, options.cpuProfDir)
  await options.beforeMeasure?.()
  const inProcess = await inProcessRun(code, kind, integration, bodies, sizes)
  return {
    store: kind,
    mode,
    integration,
    http,
    inProcess,
    httpShareOfInProcess: http.membersPerSecond / inProcess.membersPerSecond
  }
}
