/**
 * Where a receiver's time went, from the V8 CPU profiles `npm run bench -- --cpu-prof DIR` writes:
 *
 *   ts-node --transpile-only bench/profile-summary.ts DIR/*.cpuprofile
 *
 * A sample is charged by its sampled frame when that says it all (GC, idle, JSON.parse, which V8
 * shows as self time of the body parser that calls it); otherwise to the nearest frame towards the
 * root that belongs to the receiver's own parts (parsing, a store, the route), so that a native
 * SQLite step or the Redis client's socket write counts for the store; and only then to HTTP and
 * Fastify. Fastify runs the route from inside the body parser's callback, which is why the stack
 * cannot simply be searched for the outermost known frame. Start-up (loading modules) is reported
 * apart and left out of the shares: they describe serving.
 */
import { readFileSync } from 'node:fs'

interface CallFrame {
  functionName: string
  url: string
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

type Rule = [category: string, test: (frame: CallFrame) => boolean]

const START_UP = 'start-up (loading modules)'

const SAMPLED_FRAME_RULES: Rule[] = [
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['idle (waiting for requests or the store)', (f) => f.functionName === '(idle)'],
  ['JSON.parse of the body', (f) => f.functionName === 'parseJsonBody']
]

// The receiver's own parts, matched at the nearest frame towards the root.
const PART_RULES: Rule[] = [
  [START_UP, (f) => f.functionName === 'Module._load' || f.url.endsWith('/cli/main.js')],
  ['parseRequest (manifest pointers)', (f) => /\/receiver\/(parse|pointer)\.js$/.test(f.url)],
  ['SQLite store (better-sqlite3)', (f) => /\/store\/sqlite\.js$|better-sqlite3/.test(f.url)],
  ['Redis store (hashing, ioredis)', (f) => /\/store\/redis\.js$|ioredis|redis-parser/.test(f.url)],
  ['route handler (and the reply it sends)', (f) => /\/receiver\/routes\//.test(f.url)]
]

const HTTP = 'HTTP and Fastify'
const isHttp = (f: CallFrame): boolean =>
  /fastify|find-my-way|avvio|light-my-request|node:_http|node:net|node:internal\/(streams|stream_base|http)/.test(
    f.url
  )

function categorize(stack: readonly CallFrame[]): string {
  const sampled = SAMPLED_FRAME_RULES.find(([, test]) => test(stack[0]))
  if (sampled) return sampled[0]
  for (const frame of stack) {
    const part = PART_RULES.find(([, test]) => test(frame))
    if (part) return part[0]
  }
  return stack.some(isHttp) ? HTTP : 'other'
}

export interface ProfileSummary {
  startUpMs: number
  /** Shares of the time after start-up, largest first. */
  shares: Array<{ category: string; share: number }>
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  const timeOf = new Map<number, number>()
  profile.samples.forEach((id, i) => timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))

  const totals = new Map<string, number>()
  for (const [id, time] of timeOf) {
    const stack: CallFrame[] = []
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      stack.push((byId.get(at) as ProfileNode).callFrame)
    }
    const category = categorize(stack)
    totals.set(category, (totals.get(category) ?? 0) + time)
  }
  const startUp = totals.get(START_UP) ?? 0
  totals.delete(START_UP)
  const serving = [...totals.values()].reduce((a, b) => a + b, 0)
  return {
    startUpMs: startUp / 1000,
    shares: [...totals]
      .map(([category, time]) => ({ category, share: time / serving }))
      .sort((a, b) => b.share - a.share)
  }
}

if (require.main === module) {
  for (const file of process.argv.slice(2)) {
    const { startUpMs, shares } = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile)
    process.stdout.write(`${file} (start-up ${Math.round(startUpMs)} ms, left out)\n`)
    for (const { category, share } of shares) {
      process.stdout.write(`  ${(share * 100).toFixed(1).padStart(5)} %  ${category}\n`)
    }
  }
}
