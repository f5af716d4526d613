/**
 * The sync history survives a SIGKILL of `serve` under load, on SQLite and on Redis (SPEC §F): after
 * a restart every acknowledged change has its record, and every record its change — each record's
 * segments hold exactly the members it says it added, and no segment exists without a record.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SyncHistoryPage, SyncRecord } from '../../src/store/types'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { sigkillUnderLoad, startServe } from '../helpers/serve-process'
import { PROD_ID, tempDir, testConfig, TOKENS } from './helpers'

jest.setTimeout(180_000)

const PER_COHORT = 50
const WORKERS = 8
const cohortsOf = (n: number) => [`h${n}a`, `h${n}b`]
const segmentKeyOf = (cohortId: string) => `segment-audiences-${cohortId}`
const bodyOf = (n: number) =>
  JSON.stringify({
    environmentId: PROD_ID,
    batch: cohortsOf(n).flatMap((cohortId) =>
      Array.from({ length: PER_COHORT }, (_, i) => ({
        userId: `${cohortId}-m${i}`,
        cohortId,
        cohortName: cohortId,
        value: true
      }))
    )
  })

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { authorization: TOKENS.reader } })
  expect(response.status).toBe(200)
  return (await response.json()) as T
}

async function allSegments(baseUrl: string): Promise<Map<string, number>> {
  const present = new Map<string, number>()
  for (let offset = 0; ; offset += 50) {
    const page = await getJson<{ items: { key: string; includedCount: number }[]; totalCount: number }>(
      `${baseUrl}/api/v2/segments/acme/production?limit=50&offset=${offset}`
    )
    for (const segment of page.items) present.set(segment.key, segment.includedCount)
    if (offset + 50 >= page.totalCount) return present
  }
}

async function allRecords(baseUrl: string): Promise<SyncRecord[]> {
  const records: SyncRecord[] = []
  let after: string | null = null
  do {
    const query: string = after === null ? '' : `&after=${after}`
    const page: SyncHistoryPage = await getJson(
      `${baseUrl}/api/v2/sync-history/acme/production?limit=100${query}`
    )
    records.push(...page.items)
    after = page.next
  } while (after !== null)
  return records
}

async function killUnderLoadAndCheck(args: string[]): Promise<void> {
  const serve = await startServe(args)
  const { acknowledged, failures, inFlightAtKill, signal } = await sigkillUnderLoad(serve, {
    token: TOKENS.writer,
    bodyOf,
    workers: WORKERS,
    acknowledgedBeforeKill: 150
  })
  expect(signal).toBe('SIGKILL')
  expect(failures).toEqual([])
  expect(inFlightAtKill).toBeGreaterThan(0)

  const restarted = await startServe(args)
  try {
    const present = await allSegments(restarted.url)
    const records = await allRecords(restarted.url)
    expect(records.every((r) => r.status === 'success')).toBe(true)
    const recordOf = new Map<string, SyncRecord>()
    for (const record of records) {
      for (const { segmentKey } of record.segments) {
        expect(recordOf.has(segmentKey)).toBe(false)
        recordOf.set(segmentKey, record)
      }
    }
    // No record of a change that did not happen: its segments hold exactly what it added.
    for (const record of records) {
      expect(record.members).toBe(2 * PER_COHORT)
      for (const counts of record.segments) {
        expect(counts).toEqual({ segmentKey: counts.segmentKey, added: PER_COHORT, removed: 0, unchanged: 0 })
        expect(present.get(counts.segmentKey)).toBe(PER_COHORT)
      }
    }
    // No change without its record, and every acknowledged change is there with it.
    for (const segmentKey of present.keys())
      expect([segmentKey, recordOf.has(segmentKey)]).toEqual([segmentKey, true])
    for (const n of acknowledged) {
      for (const cohortId of cohortsOf(n)) expect(recordOf.get(segmentKeyOf(cohortId))).toBeDefined()
    }
    expect(records.length).toBeGreaterThanOrEqual(acknowledged.size)
  } finally {
    await restarted.stop()
  }
}

describe('SIGKILL under load keeps every change with its record', () => {
  const dirs: string[] = []
  let redis: RedisServer | undefined

  afterAll(async () => {
    await redis?.stop()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  function configFile(redisPrefixes: boolean): { dir: string; file: string } {
    const dir = tempDir('history-kill-')
    dirs.push(dir)
    const config = testConfig()
    if (redisPrefixes) {
      for (const project of config.projects as {
        key: string
        environments: { key: string; redisPrefix?: string }[]
      }[]) {
        for (const env of project.environments) env.redisPrefix = `history-kill-${project.key}-${env.key}`
      }
    }
    const file = join(dir, 'receiver.json')
    writeFileSync(file, JSON.stringify(config))
    return { dir, file }
  }

  it('on SQLite', async () => {
    const { dir, file } = configFile(false)
    await killUnderLoadAndCheck(['--data', join(dir, 'data'), '--config', file])
  })

  it('on Redis', async () => {
    // The receiver dies, Redis stays up: what its scripts committed is all there is.
    redis = await startRedisServer()
    const { dir, file } = configFile(true)
    await killUnderLoadAndCheck(['--data', join(dir, 'data'), '--config', file, '--store', redis.url])
  })
})
