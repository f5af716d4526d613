/**
 * A real `synced-segments serve` process (the TypeScript entry through ts-node, no build needed):
 * the development set-up as a user meets it, graceful shutdown, and a SIGKILL under a stream of
 * concurrent requests that must lose no acknowledged change and leave no request half applied.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sigkillUnderLoad, startServe } from '../helpers/serve-process'
import { tempDir, testConfig, TOKENS, PROD_ID } from './app-helpers'

jest.setTimeout(120_000)

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

it('serves the development set-up on 127.0.0.1, prints its credentials, keeps them across restarts and stops on SIGTERM', async () => {
  const dir = tempDir('serve-dev-')
  dirs.push(dir)
  const dataDir = join(dir, 'data')
  const first = await startServe(['--data', dataDir])
  let credentials: { clientSideId: string; token: string }
  try {
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const file = join(dataDir, 'credentials.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    credentials = JSON.parse(readFileSync(file, 'utf8')) as { clientSideId: string; token: string }
    expect(first.stdout()).toContain(`client-side ID ${credentials.clientSideId}`)
    expect(first.stdout()).toContain(`token         ${credentials.token}`)
    expect(first.stdout()).toContain('integrations  12 loaded')

    const body = { environmentId: credentials.clientSideId, batch: [{ userId: 'u1', cohortId: 'c1', cohortName: 'C1', value: true }] }
    const response = await fetch(`${first.url}/api/v2/segment-targets/segment-audiences`, {
      method: 'POST',
      headers: { authorization: credentials.token, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    })
    expect(response.status).toBe(204)
  } finally {
    first.child.kill('SIGTERM')
  }
  expect(await first.exited).toEqual({ code: 0, signal: null })
  expect(first.stdout()).toContain('SIGTERM: shutting down')

  const second = await startServe(['--data', dataDir])
  try {
    expect(second.stdout()).toContain(`token         ${credentials.token}`)
    const check = await fetch(`${second.url}/api/v2/segments/default/production/segment-audiences-c1/contexts/u1`, {
      headers: { authorization: `Bearer ${credentials.token}` }
    })
    expect(await check.json()).toEqual({ userKey: 'u1', contextKey: 'u1', included: true, excluded: false })
  } finally {
    second.child.kill('SIGINT')
  }
  expect((await second.exited).code).toBe(0)
})

it('loses no acknowledged change and applies no request by halves when killed with SIGKILL under load', async () => {
  const dir = tempDir('serve-kill-')
  dirs.push(dir)
  const dataDir = join(dir, 'data')
  const configFile = join(dir, 'receiver.json')
  writeFileSync(configFile, JSON.stringify(testConfig()))
  const args = ['--data', dataDir, '--config', configFile]

  // Request n adds PER_COHORT distinct members to each of two cohorts of its own.
  const PER_COHORT = 100
  const WORKERS = 8
  const cohortsOf = (n: number) => [`k${n}a`, `k${n}b`]
  const membersOf = (cohortId: string) => Array.from({ length: PER_COHORT }, (_, i) => `${cohortId}-m${i}`)
  const bodyOf = (n: number) => ({
    environmentId: PROD_ID,
    batch: cohortsOf(n).flatMap((cohortId) => membersOf(cohortId).map((userId) => ({ userId, cohortId, cohortName: cohortId, value: true })))
  })

  const serve = await startServe(args)
  const { sent, acknowledged, failures, inFlightAtKill, signal } = await sigkillUnderLoad(serve, {
    token: TOKENS.writer,
    bodyOf: (n) => JSON.stringify(bodyOf(n)),
    workers: WORKERS,
    acknowledgedBeforeKill: 150
  })
  expect(signal).toBe('SIGKILL')
  expect(failures).toEqual([])
  expect(inFlightAtKill).toBeGreaterThan(0)

  const restarted = await startServe(args)
  try {
    const headers = { authorization: TOKENS.reader }
    const present = new Map<string, number>()
    for (let offset = 0; ; offset += 50) {
      const page = (await (await fetch(`${restarted.url}/api/v2/segments/acme/production?limit=50&offset=${offset}`, { headers })).json()) as {
        items: { key: string; includedCount: number }[]
        totalCount: number
      }
      for (const segment of page.items) present.set(segment.key, segment.includedCount)
      if (offset + 50 >= page.totalCount) break
    }

    for (const n of sent) {
      const keys = cohortsOf(n).map((cohortId) => `segment-audiences-${cohortId}`)
      const found = keys.filter((key) => present.has(key))
      // All of a request or none of it.
      expect({ n, found: found.length }).toEqual({ n, found: acknowledged.has(n) ? 2 : found.length === 0 ? 0 : 2 })
      for (const [i, key] of found.entries()) {
        expect({ key, includedCount: present.get(key) }).toEqual({ key, includedCount: PER_COHORT })
        const members = (await (await fetch(`${restarted.url}/api/v2/segments/acme/production/${key}/members?limit=1000`, { headers })).json()) as {
          items: string[]
        }
        expect(members.items).toEqual(membersOf(cohortsOf(n)[i]).sort())
      }
    }
    // Nothing but the requests' own segments.
    const possible = new Set([...sent].flatMap((n) => cohortsOf(n).map((cohortId) => `segment-audiences-${cohortId}`)))
    expect([...present.keys()].filter((key) => !possible.has(key))).toEqual([])
    expect(present.size).toBeGreaterThanOrEqual(acknowledged.size * 2)
  } finally {
    restarted.child.kill('SIGTERM')
    await restarted.exited
  }
})
