/**
 * Imports and exports (§B7) driven by LaunchDarkly's own generated API client
 * (`launchdarkly-api-typescript`) against a listening receiver, on each store: the client's calls
 * work by changing only its base path, a `replace` import of a large file leaves exactly its keys,
 * and hostile files are refused with nothing changed.
 */
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { Configuration, SegmentsApi, type Export, type Import } from 'launchdarkly-api-typescript'
import { buildApp } from '../../src/receiver/app'
import { parseConfig } from '../../src/receiver/config'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations } from '../../src/receiver/integrations'
import { openRedisStore } from '../../src/store/redis'
import { openSqliteStore } from '../../src/store/sqlite'
import type { SegmentStore, SyncRecord } from '../../src/store/types'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { audienceBody, PROD, snapshot, tempDir, testConfig, TOKENS } from './app-helpers'

const IMPORT_LIMIT = 4 * 1024 * 1024
const SEGMENT = 'segment-audiences-aud-1'

interface Receiver {
  url: string
  app: FastifyInstance
  store: SegmentStore
  close(): Promise<void>
}

let redis: RedisServer

beforeAll(async () => {
  redis = await startRedisServer()
})

afterAll(async () => {
  await redis?.stop()
})

async function listen(store: SegmentStore, closeStore: () => Promise<void>): Promise<Receiver> {
  const config = testConfig({ importLimitBytes: IMPORT_LIMIT })
  const app = buildApp({
    store,
    integrations: loadIntegrations([BUNDLED_INTEGRATIONS_DIR]),
    config: parseConfig(config)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    store,
    close: async () => {
      await app.close()
      await closeStore()
    }
  }
}

const STORES: [string, () => Promise<Receiver>][] = [
  [
    'sqlite',
    async () => {
      const dir = tempDir('imports-')
      const store = openSqliteStore({ path: join(dir, 'segments.db') })
      return listen(store, async () => {
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      })
    }
  ],
  [
    'redis',
    async () => {
      const store = await openRedisStore({ url: redis.url })
      return listen(store, () => store.close())
    }
  ]
]

function csv(keys: string[], header = 'key'): Blob {
  return new Blob([[header, ...keys].join('\n') + '\n'], { type: 'text/csv' })
}

function keyRange(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(7, '0')}`)
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe.each(STORES)('imports and exports through LaunchDarkly’s API client: %s', (_name, open) => {
  let receiver: Receiver
  let api: SegmentsApi
  let reader: SegmentsApi
  let env: string

  beforeEach(async () => {
    receiver = await open()
    api = new SegmentsApi(new Configuration({ apiKey: TOKENS.writer, basePath: receiver.url }))
    reader = new SegmentsApi(new Configuration({ apiKey: TOKENS.reader, basePath: receiver.url }))
    env = PROD.environmentKey
    await receiver.store.deleteSegment(PROD, SEGMENT)
    const response = await fetch(`${receiver.url}/api/v2/segment-targets/segment-audiences`, {
      method: 'POST',
      headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
      body: JSON.stringify(
        audienceBody(['old-1', 'old-2', 'kept'].map((userId) => ({ userId, value: true })))
      )
    })
    expect(response.status).toBe(204)
  })

  afterEach(async () => {
    await receiver.close()
  })

  const members = async (): Promise<string[]> => {
    const out: string[] = []
    for await (const key of receiver.store.members(PROD, SEGMENT, {})) out.push(key)
    return out
  }

  /** Runs an import with the client and waits for it to finish. */
  const runImport = async (file: Blob, mode: string): Promise<Import> => {
    const created = await api.createBigSegmentImport(PROD.projectKey, env, SEGMENT, file, mode)
    expect(created.status).toBe(204)
    const location = String(created.headers.location)
    expect(location).toMatch(
      new RegExp(`^/api/v2/segments/acme/production/${SEGMENT}/imports/[0-9a-f-]{36}$`)
    )
    const id = location.split('/').pop() as string
    const { data } = await until(
      () => api.getBigSegmentImport(PROD.projectKey, env, SEGMENT, id),
      (r) => r.data.status === 'complete' || r.data.status === 'stopped'
    )
    return data
  }

  it('shows _importInProgress on the segment and in the list while an import runs, and not after', async () => {
    const inProgress = async (): Promise<boolean[]> => [
      (await reader.getSegment(PROD.projectKey, env, SEGMENT)).data._importInProgress as boolean,
      ((await reader.getSegments(PROD.projectKey, env)).data.items ?? []).find((s) => s.key === SEGMENT)
        ?._importInProgress as boolean
    ]
    expect(await inProgress()).toEqual([false, false])
    const started = await receiver.store.beginImport(PROD, SEGMENT, { id: 'held-open', mode: 'merge' })
    expect(await inProgress()).toEqual([true, true])
    await receiver.store.stopImport(PROD, started.id, 'stopped by the test')
    expect(await inProgress()).toEqual([false, false])
  })

  it('replace leaves exactly the file’s keys and reports LaunchDarkly’s Import', async () => {
    const result = await runImport(csv(['kept', 'new-1', 'new-2', 'new-1']), 'replace')
    expect(result).toMatchObject({
      segmentKey: SEGMENT,
      mode: 'replace',
      status: 'complete',
      files: [{ filename: 'blob', status: 'complete' }],
      keyCount: 4,
      added: 2,
      removed: 2
    })
    expect(typeof result.creationTime).toBe('number')
    expect(result._links.self.href).toBe(`/api/v2/segments/acme/production/${SEGMENT}/imports/${result.id}`)
    expect(await members()).toEqual(['kept', 'new-1', 'new-2'])
    const segment = await receiver.store.getSegment(PROD, SEGMENT)
    expect(segment?.includedCount).toBe(3)
  })

  it('records each import in the sync history: a completed one with its counts, a refused file with its reason', async () => {
    const history = async (): Promise<SyncRecord[]> => {
      const response = await fetch(`${receiver.url}/api/v2/sync-history/acme/production?limit=10`, {
        headers: { authorization: TOKENS.reader }
      })
      expect(response.status).toBe(200)
      return ((await response.json()) as { items: SyncRecord[] }).items
    }
    const result = await runImport(csv(['kept', 'new-1', 'new-2', 'new-1']), 'replace')
    const [imported] = await history()
    expect(imported).toMatchObject({
      operation: 'import',
      integration: '',
      tokenName: 'writer',
      segments: [{ segmentKey: SEGMENT, added: 2, removed: 2, unchanged: 2 }],
      members: 4,
      status: 'success',
      statusCode: 204
    })
    // Written when the import completed, so its duration covers the background apply too.
    expect(imported.time + imported.durationMs).toBeLessThanOrEqual(Date.now())
    expect(imported.time).toBeLessThanOrEqual(result.creationTime)
    expect((await reader.getSegment(PROD.projectKey, env, SEGMENT)).data).toMatchObject({
      _lastSync: { status: 'success', added: 2, removed: 2 }
    })

    await expect(
      api.createBigSegmentImport(PROD.projectKey, env, SEGMENT, new Blob(['key\n']), 'replace')
    ).rejects.toMatchObject({ response: { status: 400 } })
    const refused = await until(history, (items) => items.length >= 2)
    expect(refused[0]).toMatchObject({
      operation: 'import',
      segments: [{ segmentKey: SEGMENT, added: 0, removed: 0, unchanged: 0 }],
      status: 'error',
      statusCode: 400,
      error: { code: 'invalid_request', message: 'the file holds no context keys' }
    })
    expect(await members()).toEqual(['kept', 'new-1', 'new-2'])
  })

  it('merge adds the file’s keys to the included ones', async () => {
    const result = await runImport(csv(['new-1', 'kept'], 'Context Key'), 'merge')
    expect(result).toMatchObject({ status: 'complete', mode: 'merge', added: 1, removed: 0 })
    expect(await members()).toEqual(['kept', 'new-1', 'old-1', 'old-2'])
  })

  it('a replace import of 200,000 keys leaves exactly those keys', async () => {
    const keys = keyRange(200_000, 'big')
    // Shuffled, so the stores cannot rely on sorted input; some of the old keys are kept.
    const shuffled = [...keys, 'kept'].sort((a, b) =>
      a.slice(-3) < b.slice(-3) ? -1 : a.slice(-3) > b.slice(-3) ? 1 : 0
    )
    const result = await runImport(csv(shuffled, 'userKey'), 'replace')
    expect(result).toMatchObject({ status: 'complete', keyCount: 200_001, added: 200_000, removed: 2 })
    const included = await members()
    expect(included.length).toBe(200_001)
    expect(included).toEqual([...keys, 'kept'].sort())
    expect((await receiver.store.getSegment(PROD, SEGMENT))?.includedCount).toBe(200_001)
  }, 120_000)

  it('exports the included keys as a CSV download in LaunchDarkly’s Export', async () => {
    await runImport(new Blob(['key\n"a,b"\nquote"d\n"plain",ignored\n']), 'merge')
    const created = await api.createBigSegmentExport(PROD.projectKey, env, SEGMENT)
    expect(created.status).toBe(200)
    const id = String(created.headers.location).split('/').pop() as string
    const { data } = await until(
      () => api.getBigSegmentExport(PROD.projectKey, env, SEGMENT, id),
      (r) => r.data.status !== 'in_progress'
    )
    const exported: Export = data
    expect(exported).toMatchObject({
      id,
      segmentKey: SEGMENT,
      status: 'complete',
      initiator: { name: 'writer' }
    })
    const file = await fetch(`${receiver.url}${exported._links.file.href}`, {
      headers: { authorization: TOKENS.reader }
    })
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toMatch(/^text\/csv/)
    const body = await file.text()
    expect(body).toBe('key\n"a,b"\nkept\nold-1\nold-2\nplain\n"quote""d"\n')
    expect(exported.sizeBytes).toBe(Buffer.byteLength(body))
    expect(exported.size).toBe(`${Buffer.byteLength(body)} B`)
  })

  it('an exported file imports back to the same keys', async () => {
    const created = await api.createBigSegmentExport(PROD.projectKey, env, SEGMENT)
    const id = String(created.headers.location).split('/').pop() as string
    const { data } = await until(
      () => api.getBigSegmentExport(PROD.projectKey, env, SEGMENT, id),
      (r) => r.data.status !== 'in_progress'
    )
    const file = await (
      await fetch(`${receiver.url}${data._links.file.href}`, { headers: { authorization: TOKENS.writer } })
    ).text()
    const before = await members()
    await runImport(csv(['other']), 'replace')
    await runImport(new Blob([file]), 'replace')
    expect(await members()).toEqual(before)
  })

  it('refuses what LaunchDarkly refuses: no segment, no scope, a running import', async () => {
    await expect(
      api.createBigSegmentImport(PROD.projectKey, env, 'no-such-segment', csv(['a']), 'merge')
    ).rejects.toMatchObject({
      response: { status: 404 }
    })
    await expect(
      reader.createBigSegmentImport(PROD.projectKey, env, SEGMENT, csv(['a']), 'merge')
    ).rejects.toMatchObject({
      response: { status: 403 }
    })
    await expect(api.createBigSegmentExport(PROD.projectKey, env, 'no-such-segment')).rejects.toMatchObject({
      response: { status: 404 }
    })
    await receiver.store.beginImport(PROD, SEGMENT, { id: 'running-elsewhere' })
    expect(await receiver.store.segmentsImporting(PROD, [SEGMENT, 'other'])).toEqual(new Set([SEGMENT]))
    await expect(
      api.createBigSegmentImport(PROD.projectKey, env, SEGMENT, csv(['a']), 'merge')
    ).rejects.toMatchObject({
      response: { status: 409 }
    })
    await receiver.store.stopImport(PROD, 'running-elsewhere', 'test over')
    expect(await receiver.store.segmentsImporting(PROD, [SEGMENT])).toEqual(new Set())
    expect(await members()).toEqual(['kept', 'old-1', 'old-2'])
  })

  describe('hostile files are refused, the import stopped and nothing changed', () => {
    const hostile: [string, () => Blob, number, RegExp][] = [
      [
        'not UTF-8',
        () => new Blob([Buffer.from('key\nfine\nbad-\xff\xfe-key\n', 'latin1')]),
        400,
        /not valid UTF-8/
      ],
      [
        'a key over 1,024 characters',
        () => csv(['fine', 'k'.repeat(1025)]),
        400,
        /row 3: .*longer than 1024/
      ],
      ['over the size limit', () => csv(keyRange(300_000, 'too-big')), 413, /larger than the import limit/],
      ['empty', () => new Blob([]), 400, /no context keys/],
      ['a header only', () => csv([]), 400, /no context keys/],
      ['an unclosed quote', () => new Blob(['key\n"open,\nmore\n']), 400, /not valid CSV/]
    ]

    it.each(hostile)('%s', async (_what, file, status, message) => {
      const before = await snapshot(receiver.store, [PROD])
      const failure = await api.createBigSegmentImport(PROD.projectKey, env, SEGMENT, file(), 'replace').then(
        () => undefined,
        (error: {
          response: { status: number; data: { message: string }; headers: Record<string, string> }
        }) => error.response
      )
      expect(failure?.status).toBe(status)
      expect(failure?.data.message).toMatch(message)
      const id = String(failure?.headers.location).split('/').pop() as string
      const { data } = await api.getBigSegmentImport(PROD.projectKey, env, SEGMENT, id)
      expect(data).toMatchObject({ status: 'stopped', added: 0, removed: 0 })
      expect((data as Import & { error: string }).error).toMatch(message)
      expect(await snapshot(receiver.store, [PROD])).toEqual(before)
      expect(await receiver.store.segmentsImporting(PROD, [SEGMENT])).toEqual(new Set())
    })

    it('a form without a file, or with a bad mode', async () => {
      const before = await snapshot(receiver.store, [PROD])
      await expect(
        api.createBigSegmentImport(PROD.projectKey, env, SEGMENT, undefined, 'replace')
      ).rejects.toMatchObject({
        response: { status: 400, data: { message: expect.stringMatching(/no "file" field/) } }
      })
      await expect(
        api.createBigSegmentImport(PROD.projectKey, env, SEGMENT, csv(['x']), 'overwrite')
      ).rejects.toMatchObject({
        response: { status: 400, data: { message: expect.stringMatching(/mode must be/) } }
      })
      const json = await fetch(`${receiver.url}/api/v2/segments/acme/production/${SEGMENT}/imports`, {
        method: 'POST',
        headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
        body: '{}'
      })
      expect(json.status).toBe(415)
      expect(await snapshot(receiver.store, [PROD])).toEqual(before)
    })
  })
})
