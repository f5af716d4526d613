/**
 * A warehouse model mirrored end to end, over real HTTP (no mocks): the three syncs of
 * fixtures/warehouse (rows added, updated and deleted, repeated keys, keys missing or empty, two
 * context kinds) are replayed one after the other with `replay --action syncWarehouseAudience
 * --sync-mode mirror` (actions-core's own Destination runner) into a receiver on SQLite and on
 * Redis. After every sync the receiver's segments, read back through its HTTP API, must equal the
 * membership this test computes on its own from the rows.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runReplay } from '../../src/cli/replay'
import { toCohortName } from '../../src/destination/syncAudience/requests'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'warehouse')
const SYNCS = ['sync-1.ndjson', 'sync-2.ndjson', 'sync-3.ndjson'].map((name) => join(FIXTURES, name))

interface ModelSegment {
  contextKind: string
  cohortId: string
  cohortName: string
  /** context key → member after the last row seen */
  members: Map<string, boolean>
}

interface Row {
  type?: string
  event?: string
  properties?: { cohort_id?: string; cohort_name?: string; context_key?: unknown; context_kind?: string }
}

/**
 * Mirror, from the spec rather than the destination's code: `new` and `updated` rows add, `deleted`
 * rows remove, anything else changes nothing; a row needs a key (a non-blank string, or a number);
 * the last row for a key wins. Returns how many rows must be rejected.
 */
function applyMirror(lines: string[], model: Map<string, ModelSegment>): number {
  let rejected = 0
  for (const line of lines) {
    const row = JSON.parse(line) as Row
    const value =
      row.event === 'new' || row.event === 'updated' ? true : row.event === 'deleted' ? false : undefined
    const raw = row.properties?.context_key
    const key =
      typeof raw === 'number' ? String(raw) : typeof raw === 'string' && raw.trim() ? raw : undefined
    if (row.type !== 'track' || value === undefined || key === undefined) {
      rejected++
      continue
    }
    const contextKind = row.properties?.context_kind ?? 'user'
    const cohortId = String(row.properties?.cohort_id)
    const id = `${contextKind}/${cohortId}`
    const segment = model.get(id) ?? {
      contextKind,
      cohortId,
      cohortName: toCohortName(String(row.properties?.cohort_name)),
      members: new Map<string, boolean>()
    }
    segment.members.set(key, value)
    model.set(id, segment)
  }
  return rejected
}

function fixtureLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
}

describe.each(['sqlite', 'redis'] as const)('a warehouse model mirrored into a receiver on %s', (store) => {
  let dir: string
  let redis: RedisServer | undefined
  let receiver: Receiver
  let baseUrl: string
  let token: string
  let clientId: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'synced-segments-warehouse-'))
    if (store === 'redis') redis = await startRedisServer()
    receiver = await createReceiver({
      dataDir: join(dir, 'data'),
      store: redis?.url ?? 'sqlite',
      logger: false
    })
    await receiver.app.listen({ host: '127.0.0.1', port: 0 })
    baseUrl = `http://127.0.0.1:${(receiver.app.server.address() as AddressInfo).port}`
    token = receiver.credentials!.token
    clientId = receiver.credentials!.clientSideId
  })

  afterAll(async () => {
    await receiver?.close()
    await redis?.stop()
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
      const query: string = `limit=3${after === null ? '' : `&after=${encodeURIComponent(after)}`}`
      const page: { items: string[]; next: string | null } = await get(
        `/api/v2/segments/default/production/${segmentKey}/members?${query}`
      )
      members.push(...page.items)
      after = page.next
    } while (after !== null)
    return members
  }

  async function expectReceiverToMatch(model: Map<string, ModelSegment>): Promise<void> {
    const list = await get<{ totalCount: number }>('/api/v2/segments/default/production?limit=50')
    expect(list.totalCount).toBe(model.size)
    for (const segment of model.values()) {
      const segmentKey = `segment-audiences-${segment.cohortId}`
      const wanted = [...segment.members].filter(([, included]) => included).map(([key]) => key)
      expect(await get(`/api/v2/segments/default/production/${segmentKey}`)).toMatchObject({
        key: segmentKey,
        name: segment.cohortName,
        unboundedContextKind: segment.contextKind,
        includedCount: wanted.length
      })
      expect((await allMembers(segmentKey)).sort()).toEqual(wanted.sort())
      for (const [key, included] of segment.members) {
        expect(await get(`/api/v2/segments/default/production/${segmentKey}/contexts/${key}`)).toEqual({
          userKey: key,
          contextKey: key,
          included,
          excluded: false
        })
      }
    }
  }

  it('leaves exactly the modelled members after each of three syncs', async () => {
    const model = new Map<string, ModelSegment>()
    for (const file of SYNCS) {
      const lines = fixtureLines(file)
      const rejected = applyMirror(lines, model)
      const stdout: string[] = []
      const stderr: string[] = []
      const code = await runReplay(
        file,
        {
          baseUrl,
          apiKey: token,
          clientId,
          batchSize: 4,
          action: 'syncWarehouseAudience',
          syncMode: 'mirror'
        },
        { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: (t: string) => stderr.push(t) } }
      )
      expect({ file, code, stderr: stderr.filter((l) => !l.startsWith('replay: ')) }).toEqual({
        file,
        code: 0,
        stderr: []
      })
      const summary = stdout.join('')
      expect(summary).toContain(`${lines.length - rejected} events delivered, ${rejected} event`)
      expect(summary).toMatch(/requests sent — statuses: 204 ×\d+/)
      await expectReceiverToMatch(model)
    }

    // The fixture exercises what it claims: members added and removed, two kinds, rejections in each sync.
    const values = [...model.values()].flatMap((segment) => [...segment.members.values()])
    expect(values.filter((v) => v).length).toBeGreaterThan(5)
    expect(values.filter((v) => !v).length).toBeGreaterThan(3)
    expect(new Set([...model.values()].map((segment) => segment.contextKind))).toEqual(
      new Set(['user', 'organization'])
    )
    for (const file of SYNCS) expect(applyMirror(fixtureLines(file), new Map())).toBeGreaterThan(0)
  })
})

describe('replay flags for warehouse rows', () => {
  const io = () => {
    const stderr: string[] = []
    return { stderr, io: { stdout: { write: () => true }, stderr: { write: (t: string) => stderr.push(t) } } }
  }

  it.each([
    [
      { action: 'syncWarehouseAudience', syncMode: 'sideways' },
      /takes sync mode mirror, upsert, add, delete; got "sideways"/
    ],
    [{ action: 'syncAudience', syncMode: 'mirror' }, /the action syncAudience takes no sync mode/],
    [{ syncMode: 'mirror' }, /the action syncAudience takes no sync mode/],
    [{ action: 'syncEverything' }, /has no action "syncEverything"/]
  ])('refuses %j with exit status 2', async (flags, message) => {
    const { stderr, io: streams } = io()
    const code = await runReplay(SYNCS[0], { batchSize: 10, dryRun: true, ...flags }, streams)
    expect(code).toBe(2)
    expect(stderr.join('')).toMatch(message)
  })

  it('dry-runs warehouse rows under another sync mode', async () => {
    const stdout: string[] = []
    const code = await runReplay(
      SYNCS[1],
      { batchSize: 100, dryRun: true, action: 'syncWarehouseAudience', syncMode: 'delete' },
      { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: () => true } }
    )
    expect(code).toBe(0)
    const output = stdout.join('')
    // Sync 2 deletes three users (one never a member) and one organization; under delete nothing is added.
    expect(output).toContain('(beta-testers, user): +0 −3')
    expect(output).toContain('(enterprise-accounts, organization): +0 −1')
    expect(output).toContain('under sync mode "delete", which removes deleted rows only')
  })
})
