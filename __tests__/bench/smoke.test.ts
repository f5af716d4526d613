/**
 * The benchmark itself, run with tiny sizes (`--smoke`) from the TypeScript sources, so it needs no
 * build: every phase runs end to end (receiver processes on SQLite and a real Redis, the
 * destination against its sink, the big segment), and the JSON it writes carries every figure.
 * The figures are meaningless at these sizes; only their presence and sanity are checked.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const ROOT = join(__dirname, '..', '..')
const RUN = join(ROOT, 'bench', 'run.ts')

type Json = Record<string, unknown>

const HTTP_FIGURES = [
  'membersPerSecond',
  'requestsPerSecond',
  'seconds',
  'latencyP50Ms',
  'latencyP99Ms',
  'latencyMaxMs',
  'peakRssBytes',
  'receiverCpuMicrosPerMember',
  'loadGeneratorCpuMicrosPerMember'
]
const IN_PROCESS_FIGURES = ['membersPerSecond', 'seconds', 'cpuMicrosPerMember']
const DESTINATION_FIGURES = [
  'eventsPerSecond',
  'mapOnlyEventsPerSecond',
  'shareOfMapOnly',
  'cpuMicrosPerEvent',
  'mapOnlyCpuMicrosPerEvent',
  'noNetworkEventsPerSecond',
  'noNetworkCpuMicrosPerEvent',
  'cpuShareOfMapOnly',
  'sinkCpuMicrosPerEvent',
  'requestsPerThousandEvents',
  'wireBytesPerEvent',
  'bodyBytesPerEvent'
]
const BIG_SEGMENT_FIGURES = [
  'members',
  'loadSeconds',
  'loadMembersPerSecond',
  'loadPeakRssBytes',
  'lookupP50Ms',
  'lookupP99Ms',
  'lookupsPerSecond',
  'lookupPeakRssBytes',
  'streamedListingSeconds',
  'streamedListingBytes',
  'streamedListingPeakRssBytes',
  'pagedListingSeconds',
  'pagedListingPages',
  'pagedListingPeakRssBytes',
  'peakRssBytes'
]

function expectFigures(section: Json, names: string[], where: string): void {
  for (const name of names) {
    const value = section[name]
    // A named failure beats "expected number, received undefined".
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      throw new Error(`${where}.${name} is ${JSON.stringify(value)}, not a positive number`)
  }
}

let dir: string
let result: Json
let stdout: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'synced-segments-bench-test-'))
  const out = join(dir, 'result.json')
  const run = await promisify(execFile)(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', RUN, '--smoke', '--from', 'src', '--out', out],
    {
      cwd: ROOT,
      timeout: 150_000
    }
  )
  stdout = run.stdout
  result = JSON.parse(readFileSync(out, 'utf8')) as Json
}, 160_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npm run bench --smoke', () => {
  it('measures the receiver over HTTP and in process for every store and parser mode', () => {
    const runs = result.receiver as Json[]
    expect(runs.map((r) => `${String(r.store)}/${String(r.mode)}/${String(r.integration)}`)).toEqual([
      'sqlite/boolean/segment-audiences',
      'sqlite/arrayInclusion/hightouch',
      'sqlite/addRemove/rudderstack',
      'redis/boolean/segment-audiences',
      'redis/arrayInclusion/hightouch',
      'redis/addRemove/rudderstack'
    ])
    for (const run of runs) {
      const where = `receiver ${String(run.store)} ${String(run.mode)}`
      expectFigures(run.http as Json, HTTP_FIGURES, `${where} http`)
      expectFigures(run.inProcess as Json, IN_PROCESS_FIGURES, `${where} inProcess`)
      expectFigures(run, ['httpShareOfInProcess'], where)
      const http = run.http as Json
      // redis-server's own CPU is measured for the Redis store only.
      const storeServer = run.store === 'redis' ? ['storeServerCpuMicrosPerMember'] : []
      expectFigures(run.http as Json, storeServer, `${where} http`)
      expectFigures(run.inProcess as Json, storeServer, `${where} inProcess`)
      if (run.store === 'sqlite') expect(run.http).not.toHaveProperty('storeServerCpuMicrosPerMember')
      // Other work on the machine can be nil: the one figure allowed to be zero.
      expect((run.http as Json).backgroundCores).toBeGreaterThanOrEqual(0)
      expect((run.inProcess as Json).backgroundCores).toBeGreaterThanOrEqual(0)
      expect(run.httpShareOfInProcess).toBeCloseTo(
        (http.membersPerSecond as number) / ((run.inProcess as Json).membersPerSecond as number),
        10
      )
      expect(http.latencyP50Ms as number).toBeLessThanOrEqual(http.latencyP99Ms as number)
      expect(http.latencyP99Ms as number).toBeLessThanOrEqual(http.latencyMaxMs as number)
    }
    expect(result.receiverRepeats).toHaveLength(1)
  })

  it('measures members/s with the sync history and metrics on against off, per store', () => {
    const runs = result.visibility as Json[]
    expect(runs.map((r) => `${String(r.store)}/${String(r.mode)}`)).toEqual(['sqlite/boolean', 'redis/boolean'])
    for (const run of runs) {
      expectFigures(run, ['onMedian', 'offMedian', 'onLatencyP99Ms', 'offLatencyP99Ms'], `visibility ${String(run.store)}`)
      expect(run.onMembersPerSecond).toEqual([run.onMedian])
      expect(run.offMembersPerSecond).toEqual([run.offMedian])
      expect(run.loss).toBeCloseTo(1 - (run.onMedian as number) / (run.offMedian as number), 10)
    }
    const names = (result.targets as Json[]).map((t) => t.name)
    expect(names).toContain('sqlite boolean: members/s lost to history + metrics')
    expect(names).toContain('redis boolean: members/s lost to history + metrics')
    expect(names).toContain('sqlite boolean: HTTP members/s with history + metrics')
    expect(stdout).toMatch(/Sync history and metrics on \(the default\) against off/)
  })

  it.each(['destination', 'warehouseDestination'])(
    'measures the %s against its map-only engine, with bytes on the wire',
    (key) => {
      const destination = result[key] as Json
      expectFigures(destination, DESTINATION_FIGURES, key)
      // The same rates before the long warm-up (the per-request code not yet optimised).
      const firstBatches = destination.firstBatches as Json
      expectFigures(
        firstBatches,
        DESTINATION_FIGURES.filter((name) => !/Bytes|requests/.test(name)),
        `${key}.firstBatches`
      )
      expect(destination.backgroundCores).toBeGreaterThanOrEqual(0)
      expect(firstBatches.backgroundCores).toBeGreaterThanOrEqual(0)
      // Every request carries a body, and the headers and request line come on top of it.
      expect(destination.wireBytesPerEvent as number).toBeGreaterThan(destination.bodyBytesPerEvent as number)
    }
  )

  it('loads, looks up and lists a big segment, with the receiver peak RSS of each phase', () => {
    const big = result.bigSegment as Json
    expectFigures(big, BIG_SEGMENT_FIGURES, 'bigSegment')
    expect(big.members).toBe(2000)
    expect(big.pagedListingPages).toBe(4)
    expect(big.peakRssBytes).toBe(
      Math.max(
        big.loadPeakRssBytes as number,
        big.lookupPeakRssBytes as number,
        big.streamedListingPeakRssBytes as number,
        big.pagedListingPeakRssBytes as number
      )
    )
  })

  it('times a replace import of one CSV file on each store, with the receiver peak RSS', () => {
    const imports = result.imports as Json[]
    expect(imports.map((run) => run.store)).toEqual(['sqlite', 'redis'])
    for (const run of imports) {
      expectFigures(
        run,
        [
          'keys',
          'fileBytes',
          'seconds',
          'keysPerSecond',
          'receiverCpuSeconds',
          'added',
          'removed',
          'peakRssBytes'
        ],
        `imports ${String(run.store)}`
      )
      expect(run.keys).toBe(2000)
      // The seeded segment's 1000 keys are not in the file: replace removes them all.
      expect(run).toMatchObject({ added: 2000, removed: 1000 })
    }
    expect(stdout).toContain('Replace import of one CSV file')
  })

  it('renders the console pages of a big segment, with their server times', () => {
    const pages = result.consolePages as Json
    expect(pages.members).toBe(25_000)
    expectFigures(pages, ['loadSeconds'], 'consolePages')
    for (const page of ['segmentPage', 'firstMembersPage', 'middleMembersPage', 'lookup']) {
      const times = pages[page] as Json
      expectFigures(times, ['p50Ms', 'p99Ms', 'maxMs'], `consolePages.${page}`)
      expect(times.p50Ms as number).toBeLessThanOrEqual(times.p99Ms as number)
    }
  })

  it('judges every target of SPEC §E and prints them', () => {
    const targets = result.targets as Json[]
    // 3 per SQLite mode, 1 per Redis mode, the destination, the big segment, the imports (2 + 1),
    // syncWarehouseAudience, the history's cost (its loss per store, SQLite's members/s with it on)
    // and 4 console pages.
    expect(targets).toHaveLength(3 * 3 + 3 + 2 + 3 + 1 + 3 + 4)
    for (const target of targets) {
      expect(typeof target.pass).toBe('boolean')
      expect(Number.isFinite(target.actual)).toBe(true)
      expect(stdout).toContain(String(target.name))
    }
    expect(stdout).toMatch(/^(PASS|FAIL) {2}sqlite boolean: HTTP members\/s/m)
  })

  it('describes the machine and the run', () => {
    expect(result.smoke).toBe(true)
    expect(result.code).toBe('src')
    const machine = result.machine as Json
    expectFigures(machine, ['nproc', 'memoryBytes'], 'machine')
    expect(machine.node).toBe(process.version)
    expect(typeof machine.cpuModel).toBe('string')
    expectFigures(result, ['seconds'], 'result')
    // The smoke run never waits for a quiet machine.
    expect(result.quietWaitSeconds).toBe(0)
  })
})
