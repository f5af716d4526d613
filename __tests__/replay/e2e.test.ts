/**
 * Destination → receiver over real HTTP (no mocks): a generated Engage file is replayed through the
 * replay command into a receiver on SQLite, and the receiver's members, read back through its HTTP
 * API, must equal the membership this test computes on its own from the events.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runReplay } from '../../src/cli/replay'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { generateEngageLines, ORGANIZATIONS_SPACE, PEOPLE_SPACE } from '../../scripts/generate-engage-fixtures'
import { parseFixtureLines } from './events'

interface Expected {
  contextKind: string
  audienceId: string
  name: string
  /** userId → last valid membership value */
  members: Map<string, boolean>
}

/**
 * The rules, straight from the spec rather than from the destination's code: only identify/track
 * audience events with a non-empty userId and a boolean membership count; the last one wins.
 */
function expectedMembership(lines: string[], contextKind: string, into: Map<string, Expected>): void {
  for (const event of parseFixtureLines(lines)) {
    if (event.type !== 'identify' && event.type !== 'track') continue
    const personas = event.context?.personas
    if (personas?.computation_class !== 'audience') continue
    if (typeof event.userId !== 'string' || event.userId === '') continue
    const holder = event.properties !== undefined ? event.properties : event.traits
    const value = holder?.[personas.computation_key]
    if (typeof value !== 'boolean') continue
    const key = `${contextKind}/${personas.computation_id}`
    let audience = into.get(key)
    if (!audience) {
      const words = String(personas.computation_key).split('_').join(' ')
      audience = { contextKind, audienceId: personas.computation_id, name: words[0].toUpperCase() + words.slice(1), members: new Map() }
      into.set(key, audience)
    }
    audience.members.set(event.userId, value)
  }
}

describe('replay into a receiver over HTTP', () => {
  let dir: string
  let receiver: Receiver
  let baseUrl: string
  let token: string
  let clientId: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'synced-segments-e2e-'))
    receiver = await createReceiver({ dataDir: join(dir, 'data'), logger: false })
    await receiver.app.listen({ host: '127.0.0.1', port: 0 })
    baseUrl = `http://127.0.0.1:${(receiver.app.server.address() as AddressInfo).port}`
    token = receiver.credentials!.token
    clientId = receiver.credentials!.clientSideId
  })

  afterAll(async () => {
    await receiver?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  async function get<T>(path: string): Promise<T> {
    const response = await fetch(`${baseUrl}${path}`, { headers: { Authorization: token } })
    expect(response.status).toBe(200)
    return (await response.json()) as T
  }

  async function allMembers(segmentKey: string): Promise<string[]> {
    const members: string[] = []
    let after: string | null = null
    do {
      const query: string = `limit=97${after === null ? '' : `&after=${encodeURIComponent(after)}`}`
      const page: { items: string[]; next: string | null } = await get(`/api/v2/segments/default/production/${segmentKey}/members?${query}`)
      members.push(...page.items)
      after = page.next
    } while (after !== null)
    return members
  }

  it('ends with exactly the members the events say, for two context kinds', async () => {
    const files = [
      { file: join(dir, 'people.ndjson'), kind: 'user', lines: generateEngageLines({ space: PEOPLE_SPACE, seed: 2026, events: 3000, profiles: 300 }) },
      {
        file: join(dir, 'organizations.ndjson'),
        kind: 'organization',
        lines: generateEngageLines({ space: ORGANIZATIONS_SPACE, seed: 2027, events: 800, profiles: 50 })
      }
    ]
    const expected = new Map<string, Expected>()
    for (const { file, kind, lines } of files) {
      writeFileSync(file, `${lines.join('\n')}\n`)
      expectedMembership(lines, kind, expected)

      const stdout: string[] = []
      const stderr: string[] = []
      const code = await runReplay(
        file,
        { baseUrl, apiKey: token, clientId, batchSize: 250, contextKind: kind === 'user' ? undefined : kind },
        { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: (t: string) => stderr.push(t) } }
      )
      expect({ code, stderr: stderr.filter((l) => !l.startsWith('replay: ')) }).toEqual({ code: 0, stderr: [] })
      expect(stdout.join('')).toMatch(/requests sent — statuses: 204 ×\d+/)
    }
    // Sanity of the data itself: both kinds, entries and exits, nothing trivially empty.
    const values = [...expected.values()].flatMap((a) => [...a.members.values()])
    expect(values.filter((v) => v).length).toBeGreaterThan(100)
    expect(values.filter((v) => !v).length).toBeGreaterThan(100)

    const list = await get<{ items: Array<Record<string, unknown>>; totalCount: number }>('/api/v2/segments/default/production?limit=50')
    expect(list.totalCount).toBe(expected.size)

    for (const audience of expected.values()) {
      const segmentKey = `segment-audiences-${audience.audienceId}`
      const wanted = [...audience.members].filter(([, included]) => included).map(([userId]) => userId)
      const segment = await get<Record<string, unknown>>(`/api/v2/segments/default/production/${segmentKey}`)
      expect(segment).toMatchObject({
        key: segmentKey,
        name: audience.name,
        unbounded: true,
        unboundedContextKind: audience.contextKind,
        includedCount: wanted.length
      })
      expect((await allMembers(segmentKey)).sort()).toEqual(wanted.sort())
    }

    // One exited and one entered context, asked directly.
    const someAudience = [...expected.values()][0]
    const exited = [...someAudience.members].find(([, v]) => !v)![0]
    const entered = [...someAudience.members].find(([, v]) => v)![0]
    const segmentKey = `segment-audiences-${someAudience.audienceId}`
    expect(await get(`/api/v2/segments/default/production/${segmentKey}/contexts/${exited}`)).toMatchObject({ contextKey: exited, included: false })
    expect(await get(`/api/v2/segments/default/production/${segmentKey}/contexts/${entered}`)).toMatchObject({ contextKey: entered, included: true })
  })
})
