/**
 * Faults of the receiver on the Redis store (the SQLite SIGKILL case is in
 * __tests__/receiver/serve-process.test.ts):
 * - `synced-segments serve --store redis://…` killed with SIGKILL under 8 concurrent writers: every
 *   acknowledged request is complete after a restart, and no request is half applied;
 * - Redis itself killed (SIGKILL) while 8 writers stream, then restarted on the same port: requests
 *   during the outage get a JSON 503, none is reported 2xx without being applied, writes succeed
 *   again afterwards.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Redis from 'ioredis'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { eventually, leaksIn, PROD_ID, readMembers, tempDir, testConfig, TOKENS } from './helpers'

jest.setTimeout(120_000)

const ROOT = join(__dirname, '..', '..')
const PER_COHORT = 50

/** Request n adds PER_COHORT members to each of two cohorts of its own. */
const cohortsOf = (n: number) => [`f${n}a`, `f${n}b`]
const membersOf = (cohortId: string) => Array.from({ length: PER_COHORT }, (_, i) => `${cohortId}-m${String(i).padStart(2, '0')}`)
const bodyOf = (n: number) =>
  JSON.stringify({
    environmentId: PROD_ID,
    batch: cohortsOf(n).flatMap((cohortId) => membersOf(cohortId).map((userId) => ({ userId, cohortId, cohortName: cohortId, value: true })))
  })

interface Outcomes {
  sent: Set<number>
  acknowledged: Set<number>
  /** status → count, for every answer other than 204. */
  failures: Map<number, number>
  bodies: string[]
}

/** 8 writers sending request after request until `stop()`; network errors are counted as unanswered. */
function writers(url: string, count = 8): { outcomes: Outcomes; stop: () => Promise<void> } {
  const outcomes: Outcomes = { sent: new Set(), acknowledged: new Set(), failures: new Map(), bodies: [] }
  let next = 0
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const n = next++
      outcomes.sent.add(n)
      try {
        const response = await fetch(`${url}/api/v2/segment-targets/segment-audiences`, {
          method: 'POST',
          headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
          body: bodyOf(n)
        })
        const text = await response.text()
        if (response.status === 204) outcomes.acknowledged.add(n)
        else {
          outcomes.failures.set(response.status, (outcomes.failures.get(response.status) ?? 0) + 1)
          outcomes.bodies.push(text)
          // A failing store answers fast; don't spin.
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
      } catch {
        // No answer (the process died): not acknowledged, so either outcome is allowed. Pause, so
        // a dead address cannot turn the loop into a busy one that starves the timers.
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
  }
  const all = Array.from({ length: count }, worker)
  return {
    outcomes,
    stop: async () => {
      stopped = true
      await Promise.all(all)
    }
  }
}

/** Every sent request is applied entirely or not at all, and every acknowledged one entirely. */
async function expectAllOrNothing(url: string, outcomes: Outcomes): Promise<{ applied: number }> {
  const client = {
    request: async (method: string, path: string, options: { headers?: Record<string, string> } = {}) => {
      const response = await fetch(`${url}${path}`, { method, headers: options.headers })
      return { status: response.status, headers: {}, body: await response.text() }
    }
  }
  const present = new Map<string, number>()
  for (let offset = 0; ; offset += 50) {
    const page = JSON.parse((await client.request('GET', `/api/v2/segments/acme/production?limit=50&offset=${offset}`, { headers: { authorization: TOKENS.reader } })).body) as {
      items: { key: string; includedCount: number }[]
      totalCount: number
    }
    for (const segment of page.items) present.set(segment.key, segment.includedCount)
    if (offset + 50 >= page.totalCount) break
  }
  let applied = 0
  for (const n of outcomes.sent) {
    const keys = cohortsOf(n).map((cohortId) => `segment-audiences-${cohortId}`)
    const found = keys.filter((key) => present.has(key)).length
    expect({ n, acknowledged: outcomes.acknowledged.has(n), found }).toEqual({ n, acknowledged: outcomes.acknowledged.has(n), found: outcomes.acknowledged.has(n) || found > 0 ? 2 : 0 })
    if (found === 0) continue
    applied++
    for (const cohortId of cohortsOf(n)) {
      expect(present.get(`segment-audiences-${cohortId}`)).toBe(PER_COHORT)
      expect(await readMembers(client, 'acme/production', `segment-audiences-${cohortId}`)).toEqual(membersOf(cohortId))
    }
  }
  const possible = new Set([...outcomes.sent].flatMap((n) => cohortsOf(n).map((c) => `segment-audiences-${c}`)))
  expect([...present.keys()].filter((key) => !possible.has(key))).toEqual([])
  return { applied }
}

/** The test configuration with a Redis prefix per environment, as the Redis store requires. */
function redisConfig(): Record<string, unknown> {
  const config = testConfig()
  for (const project of config.projects as { key: string; environments: { key: string; redisPrefix?: string }[] }[]) {
    for (const env of project.environments) env.redisPrefix = `reliability-${project.key}-${env.key}`
  }
  return config
}

const report = (line: string): void => {
  if (process.env.RELIABILITY_REPORT) console.log(line)
}

describe('serve on Redis, killed with SIGKILL under load', () => {
  let redis: RedisServer
  const dir = tempDir('reliability-serve-redis-')
  beforeAll(async () => {
    redis = await startRedisServer()
  })
  afterAll(async () => {
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  function startServe(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; url: string; exited: Promise<NodeJS.Signals | null> }> {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src', 'cli', 'main.ts'), 'serve', '--port', '0', ...args], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') }
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
    let stdout = ''
    let stderr = ''
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`serve did not start:\n${stdout}`))
      }, 60_000)
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        const match = /listening on (http:\/\/\S+)[\s\S]*\n {2}tokens .*\n/.exec(stdout)
        if (match) {
          clearTimeout(timer)
          resolve({ child, url: match[1], exited })
        }
      })
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`serve exited before listening:\n${stdout}\n${stderr}`))
      })
    })
  }

  it('loses no acknowledged request and applies none by halves', async () => {
    const configFile = join(dir, 'receiver.json')
    writeFileSync(configFile, JSON.stringify(redisConfig()))
    const args = ['--data', join(dir, 'data'), '--config', configFile, '--store', redis.url]
    const serve = await startServe(args)
    const load = writers(serve.url)
    try {
      await eventually(() => load.outcomes.acknowledged.size >= 150, 60_000, '150 acknowledged requests')
    } finally {
      serve.child.kill('SIGKILL')
    }
    expect(await serve.exited).toBe('SIGKILL')
    await load.stop()
    expect(Object.fromEntries(load.outcomes.failures)).toEqual({})
    // Requests were in flight at the kill: sent but never answered.
    expect(load.outcomes.sent.size).toBeGreaterThan(load.outcomes.acknowledged.size)

    const restarted = await startServe(args)
    try {
      const { applied } = await expectAllOrNothing(restarted.url, load.outcomes)
      report(`serve on Redis SIGKILL: ${load.outcomes.sent.size} sent, ${load.outcomes.acknowledged.size} acknowledged, ${applied} applied, none by halves`)
    } finally {
      restarted.child.kill('SIGTERM')
      await restarted.exited
    }
  })
})

describe('Redis killed and restarted mid-load', () => {
  let redis: RedisServer
  let receiver: Receiver
  let url: string
  const dir = tempDir('reliability-redis-restart-')

  beforeAll(async () => {
    // Persisted, and fsynced before every reply: a SIGKILL of Redis must not take back an acknowledged write.
    redis = await startRedisServer({ appendonly: true })
    const admin = new Redis(redis.url)
    await admin.config('SET', 'appendfsync', 'always')
    await admin.quit()
    receiver = await createReceiver({ dataDir: join(dir, 'data'), store: redis.url, config: redisConfig() })
    await receiver.app.listen({ port: 0, host: '127.0.0.1' })
    const address = receiver.app.server.address() as { port: number }
    url = `http://127.0.0.1:${address.port}`
  })
  afterAll(async () => {
    await receiver?.close()
    await redis?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers 503 JSON during the outage, never 2xx for a write it did not apply, and writes again after', async () => {
    const load = writers(url)
    let duringOutage = 0
    let afterRestart = 0
    try {
      await eventually(() => load.outcomes.acknowledged.size >= 100, 30_000, '100 acknowledged requests')
      await redis.kill()
      const before = load.outcomes.failures.get(503) ?? 0
      await eventually(() => (load.outcomes.failures.get(503) ?? 0) >= before + 50, 30_000, '50 answers of 503 during the outage')
      duringOutage = load.outcomes.acknowledged.size
      await redis.start()
      const acknowledgedAtRestart = load.outcomes.acknowledged.size
      await eventually(() => load.outcomes.acknowledged.size >= acknowledgedAtRestart + 100, 30_000, '100 acknowledged requests after the restart')
      afterRestart = load.outcomes.acknowledged.size - acknowledgedAtRestart
    } finally {
      await load.stop()
    }
    // Only 204 and 503, and every 503 the receiver's JSON.
    expect([...load.outcomes.failures.keys()]).toEqual([503])
    for (const body of load.outcomes.bodies) {
      expect(JSON.parse(body)).toMatchObject({ code: 'service_unavailable' })
      expect(leaksIn(body)).toEqual([])
    }
    expect(afterRestart).toBeGreaterThanOrEqual(100)
    expect(await fetch(`${url}/healthz`).then((r) => r.status)).toBe(200)

    const { applied } = await expectAllOrNothing(url, load.outcomes)
    report(
      `Redis SIGKILL + restart: ${load.outcomes.sent.size} sent, ${load.outcomes.acknowledged.size} acknowledged ` +
        `(${duringOutage} before the restart, ${afterRestart} after), ${load.outcomes.failures.get(503)} answered 503, ${applied} applied, none by halves`
    )
  })
})
