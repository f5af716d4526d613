/**
 * SPEC §G / §E2: console pages of a 1,000,000-member segment. The segment is loaded through the
 * store (as syncs of 10,000 members, each with its history record), then the segment's page, the
 * first members page, a members page from the middle (a cursor) and a lookup are rendered again and
 * again in process (app.inject: server time, no network), signed in as a person would be.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CodeUnderTest } from './code'
import type { Target } from './report'
import { BENCH_CLIENT_ID, BENCH_ENVIRONMENT, BENCH_PROJECT, BENCH_TOKEN } from './receiver-process'
import { percentile } from './stats'

export interface ConsolePagesSizes {
  members: number
  /** Renders of each page measured (after a few unmeasured ones). */
  renders: number
}

export interface PageTimes {
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface ConsolePagesFigures {
  members: number
  loadSeconds: number
  segmentPage: PageTimes
  firstMembersPage: PageTimes
  middleMembersPage: PageTimes
  lookup: PageTimes
}

const SEGMENT_KEY = 'segment-audiences-aud_console'
const SYNC_MEMBERS = 10_000
const WARMUP_RENDERS = 3
/** §G: each page of a 1,000,000-member segment within this much server time. */
export const CONSOLE_PAGE_P99_TARGET_MS = 300

const memberKey = (i: number) => `member-${String(i).padStart(7, '0')}`

export async function benchConsolePages(
  code: CodeUnderTest,
  sizes: ConsolePagesSizes
): Promise<ConsolePagesFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-bench-console-'))
  const receiver = await code.api.createReceiver({
    dataDir,
    logger: false,
    config: {
      projects: [
        { key: BENCH_PROJECT, environments: [{ key: BENCH_ENVIRONMENT, clientSideId: BENCH_CLIENT_ID }] }
      ],
      tokens: [{ name: 'bench', token: BENCH_TOKEN, actions: '*', environments: '*' }]
    }
  })
  try {
    const env = { projectKey: BENCH_PROJECT, environmentKey: BENCH_ENVIRONMENT }
    const loadStart = performance.now()
    for (let from = 0, sync = 0; from < sizes.members; from += SYNC_MEMBERS, sync++) {
      const ops = []
      for (let i = from; i < Math.min(sizes.members, from + SYNC_MEMBERS); i++)
        ops.push({ contextKey: memberKey(i), included: true })
      const time = Date.now()
      await receiver.store.apply(
        env,
        [
          {
            segmentKey: SEGMENT_KEY,
            name: 'Console bench',
            contextKind: 'user',
            integrationKey: 'segment-audiences',
            ops
          }
        ],
        {
          allowCreate: true,
          now: time,
          record: {
            requestId: `bench-${sync}`,
            time,
            operation: 'segment-targets',
            integration: 'segment-audiences',
            tokenName: 'bench',
            statusCode: 204
          }
        }
      )
    }
    const loadSeconds = (performance.now() - loadStart) / 1000

    const signIn = await receiver.app.inject({
      method: 'POST',
      url: '/console/sign-in',
      headers: {
        host: 'bench.local',
        origin: 'http://bench.local',
        'content-type': 'application/x-www-form-urlencoded'
      },
      payload: new URLSearchParams({ token: BENCH_TOKEN, next: '/console/' }).toString()
    })
    const cookie = String(signIn.headers['set-cookie']).split(';')[0]
    if (signIn.statusCode !== 303 || !cookie.includes('='))
      throw new Error(`console sign-in answered ${signIn.statusCode}`)

    const segmentPath = `/console/${BENCH_PROJECT}/${BENCH_ENVIRONMENT}/segments/${SEGMENT_KEY}`
    const time = async (url: string): Promise<PageTimes> => {
      const times: number[] = []
      for (let i = 0; i < WARMUP_RENDERS + sizes.renders; i++) {
        const start = performance.now()
        const response = await receiver.app.inject({
          method: 'GET',
          url,
          headers: { host: 'bench.local', cookie }
        })
        const ms = performance.now() - start
        if (response.statusCode !== 200) throw new Error(`GET ${url} answered ${response.statusCode}`)
        if (i >= WARMUP_RENDERS) times.push(ms)
      }
      times.sort((a, b) => a - b)
      return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: times[times.length - 1] }
    }
    const middle = encodeURIComponent(memberKey(Math.floor(sizes.members / 2)))
    return {
      members: sizes.members,
      loadSeconds,
      segmentPage: await time(segmentPath),
      firstMembersPage: await time(`${segmentPath}/members`),
      middleMembersPage: await time(`${segmentPath}/members?after=${middle}`),
      lookup: await time(`${segmentPath}?contextKey=${middle}`)
    }
  } finally {
    await receiver.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

export function consoleTargets(figures: ConsolePagesFigures): Target[] {
  const pages: Array<[string, PageTimes]> = [
    ['segment page', figures.segmentPage],
    ['first members page', figures.firstMembersPage],
    ['members page from a cursor', figures.middleMembersPage],
    ['segment page with a lookup', figures.lookup]
  ]
  return pages.map(([name, times]) => ({
    name: `console, ${figures.members.toLocaleString('en')}-member segment: ${name} p99`,
    goal: `< ${CONSOLE_PAGE_P99_TARGET_MS} ms`,
    actual: times.p99Ms,
    unit: 'ms',
    pass: times.p99Ms < CONSOLE_PAGE_P99_TARGET_MS
  }))
}
