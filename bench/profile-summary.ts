/**
 * Where a receiver's time went, from the V8 CPU profiles `npm run bench -- --cpu-prof DIR` writes:
 *
 *   ts-node --transpile-only bench/profile-summary.ts DIR/*.cpuprofile
 *
 * Each sample is charged to the first category found walking from the sampled frame towards the
 * root, so a native call (JSON.parse, a SQLite step) counts where the receiver made it. Start-up
 * (loading modules) is reported apart and left out of the shares: they describe serving.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

type Rule = [category: string, test: (fn: string, url: string) => boolean]

// First match wins, from the sampled frame upwards: specific before general.
const START_UP = 'start-up (loading modules)'

const RULES: Rule[] = [
  ['garbage collection', (fn) => fn === '(garbage collector)'],
  ['idle (waiting for requests or the store)', (fn) => fn === '(idle)'],
  [START_UP, (fn, url) => fn === 'Module._load' || url.endsWith('/cli/main.js')],
  ['JSON.parse of the body', (fn) => fn === 'parseJsonBody'],
  ['parseRequest (manifest pointers)', (_, url) => /\/receiver\/(parse|pointer)\.js$/.test(url)],
  ['SQLite store (better-sqlite3)', (_, url) => /\/store\/sqlite\.js$|better-sqlite3/.test(url)],
  ['Redis store (hashing, ioredis)', (_, url) => /\/store\/redis\.js$|ioredis|redis-parser/.test(url)],
  ['route handler', (_, url) => /\/receiver\/routes\//.test(url)],
  [
    'HTTP and Fastify',
    (_, url) =>
      /fastify|find-my-way|avvio|light-my-request|node:_http|node:net|node:internal\/(streams|stream_base|http)/.test(
        url
      )
  ]
]

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
    let category = 'other'
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const { functionName, url } = (byId.get(at) as ProfileNode).callFrame
      const rule = RULES.find(([, test]) => test(functionName, url))
      if (rule) {
        category = rule[0]
        break
      }
    }
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
