import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import {
  formatSegmentTable,
  getSegment,
  isIncluded,
  listAllSegments,
  register,
  resolveTarget,
  ReceiverRequestError,
  segmentMembers,
  type ReceiverTarget
} from '../../src/cli/segments'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import type { SegmentRecord } from '../../src/store/types'

const ENV = { projectKey: 'default', environmentKey: 'production' }

async function collect(source: AsyncIterable<string>): Promise<string[]> {
  const items: string[] = []
  for await (const item of source) items.push(item)
  return items
}

describe('synced-segments segments', () => {
  let dir: string
  let dataDir: string
  let receiver: Receiver
  let target: ReceiverTarget
  const bigMembers = Array.from({ length: 2500 }, (_, i) => `ctx-${String(i).padStart(5, '0')}`)

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'segments-cli-'))
    dataDir = join(dir, 'data')
    receiver = await createReceiver({ dataDir, logger: false })
    await receiver.app.listen({ host: '127.0.0.1', port: 0 })
    const baseUrl = `http://127.0.0.1:${(receiver.app.server.address() as AddressInfo).port}`
    target = resolveTarget({ baseUrl, data: dataDir, project: 'default', environment: 'production' })
    // More segments than one list page (50) holds, and one segment larger than a members page.
    const changes = Array.from({ length: 60 }, (_, i) => ({
      segmentKey: `seg-${String(i).padStart(2, '0')}`,
      name: `Segment ${i}`,
      contextKind: i % 2 ? 'organization' : 'user',
      integrationKey: 'segment-audiences',
      ops: [{ contextKey: `member-of-${i}`, included: true }]
    }))
    changes.push({
      segmentKey: 'big',
      name: 'Big one',
      contextKind: 'user',
      integrationKey: 'segment-audiences',
      ops: bigMembers.map((contextKey) => ({ contextKey, included: true }))
    })
    await receiver.store.apply(ENV, changes, { allowCreate: true })
  })

  afterAll(async () => {
    await receiver?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("takes the development token from the receiver's data directory, or refuses without one", () => {
    expect(target.apiKey).toBe(receiver.credentials?.token)
    expect(() => resolveTarget({ baseUrl: 'http://x', data: join(dir, 'nowhere'), project: 'p', environment: 'e' })).toThrow(/no token/)
  })

  it('lists every segment across pages, shows one, pages through members and answers membership', async () => {
    const segments = await listAllSegments(target)
    expect(segments.map((s) => s.key)).toEqual(['big', ...Array.from({ length: 60 }, (_, i) => `seg-${String(i).padStart(2, '0')}`)])

    expect(await getSegment(target, 'seg-01')).toMatchObject({ key: 'seg-01', name: 'Segment 1', unboundedContextKind: 'organization', includedCount: 1 })
    expect(await collect(segmentMembers(target, 'big'))).toEqual(bigMembers)
    expect(await collect(segmentMembers(target, 'big', 1500))).toEqual(bigMembers.slice(0, 1500))
    expect(await isIncluded(target, 'big', 'ctx-00042')).toBe(true)
    expect(await isIncluded(target, 'big', 'someone-else')).toBe(false)

    await expect(getSegment(target, 'no-such-segment')).rejects.toThrow(ReceiverRequestError)
    await expect(getSegment({ ...target, apiKey: 'wrong-token-123' }, 'big')).rejects.toMatchObject({ status: 403 })
  })

  it('prints the list as a table through the command', async () => {
    const written: string[] = []
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    try {
      const program = new Command().exitOverride()
      register(program)
      await program.parseAsync(['segments', 'list', '--base-url', target.baseUrl, '--data', dataDir], { from: 'user' })
    } finally {
      spy.mockRestore()
    }
    const lines = written.join('').trimEnd().split('\n')
    expect(lines).toHaveLength(62)
    expect(lines[0]).toMatch(/^KEY\s+NAME\s+KIND\s+MEMBERS$/)
    expect(lines[1]).toMatch(/^big\s+Big one\s+user\s+2500$/)
  })

  it('aligns the table and shows first members when given', () => {
    const segment = (key: string, count: number, kind = 'user'): SegmentRecord => ({
      key,
      name: key.toUpperCase(),
      unbounded: true,
      unboundedContextKind: kind,
      generation: 1,
      creationDate: 0,
      lastModifiedDate: 0,
      _external: 'segment-audiences',
      includedCount: count,
      excludedCount: 0,
      version: 1
    })
    expect(
      formatSegmentTable([
        { segment: segment('a', 3), firstMembers: ['x', 'y'] },
        { segment: segment('longer-key', 12, 'organization'), firstMembers: [] },
        { segment: segment('b', 2), firstMembers: ['p', 'q'] }
      ])
    ).toEqual([
      'KEY         NAME        KIND          MEMBERS  FIRST MEMBERS',
      'a           A           user                3  x, y, …',
      'longer-key  LONGER-KEY  organization       12  …',
      'b           B           user                2  p, q'
    ])
  })
})
