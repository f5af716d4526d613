/**
 * LaunchDarkly's maintained API client, generated from its OpenAPI document
 * (`launchdarkly-api-typescript`), pointed at a running receiver by changing only its base path:
 * the segment calls work as they work against LaunchDarkly, on each store (§B7).
 */
import { rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Configuration, SegmentsApi, type UserSegment } from 'launchdarkly-api-typescript'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { segmentRep } from '../../src/receiver/segment-rep'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { audienceBody, PROD_ID, REQUEST_ID, sync, tempDir, testConfig, TOKENS } from './app-helpers'

jest.setTimeout(60_000)

const PROJECT = 'acme'
const ENV = 'production'

// Compile-time: the receiver's segment is assignable to the client's UserSegment model.
const asUserSegment: (rep: ReturnType<typeof segmentRep>) => UserSegment = (rep) => rep

/** The error a client call rejects with (the client's HTTP library's): its status and LaunchDarkly's error body. */
async function failure(call: Promise<unknown>): Promise<{ status: number | undefined; data: unknown }> {
  try {
    await call
  } catch (error) {
    const response = (error as { response?: { status: number; data: unknown } }).response
    if (response) return { status: response.status, data: response.data }
    throw error
  }
  throw new Error('the call succeeded')
}

describe.each(['sqlite', 'redis'] as const)(
  'launchdarkly-api-typescript against the receiver on %s',
  (storeKind) => {
    let redis: RedisServer | undefined
    let receiver: Receiver
    let api: SegmentsApi
    let basePath: string
    const dir = tempDir('ld-api-client-')

    beforeAll(async () => {
      const config = testConfig()
      let store: string | undefined
      if (storeKind === 'redis') {
        redis = await startRedisServer()
        store = redis.url
        const projects = config.projects as { environments: { redisPrefix?: string }[] }[]
        projects.forEach((project, p) =>
          project.environments.forEach((env, e) => (env.redisPrefix = `ld-api-${p}-${e}`))
        )
      }
      receiver = await createReceiver({ dataDir: join(dir, 'data'), store, config })
      await receiver.app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = receiver.app.server.address() as AddressInfo
      // Only the base path changes; the rest is the client as LaunchDarkly ships it.
      basePath = `http://127.0.0.1:${port}`
      api = new SegmentsApi(new Configuration({ apiKey: TOKENS.writer, basePath }))

      const members = [
        ...['u1', 'u2', 'u3'].map((userId) => ({ userId, cohortId: 'beta', value: true })),
        { userId: 'u1', cohortId: 'cohort-20240101', value: true },
        { userId: 'u1', cohortId: 'alpha', value: true }
      ]
      expect((await sync(receiver.app, 'segment-audiences', audienceBody(members))).statusCode).toBe(204)
      const rudder = {
        environmentId: PROD_ID,
        cohortId: 'rs-1',
        cohortName: 'Rudder',
        listData: { add: [{ id: 'u9' }] }
      }
      expect((await sync(receiver.app, 'rudderstack', rudder)).statusCode).toBe(204)
    })

    afterAll(async () => {
      await receiver?.close()
      await redis?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    it('getSegment answers a UserSegment of a big segment', async () => {
      const { status, data } = await api.getSegment(PROJECT, ENV, 'segment-audiences-beta')
      expect(status).toBe(200)
      expect(data).toMatchObject({
        key: 'segment-audiences-beta',
        name: 'Audience beta',
        tags: [],
        version: 1,
        deleted: false,
        rules: [],
        included: [],
        excluded: [],
        unbounded: true,
        unboundedContextKind: 'user',
        generation: 1,
        _external: 'segment-audiences',
        _importInProgress: false,
        _unboundedMetadata: { includedCount: 3, excludedCount: 0, deleted: false }
      })
      expect(data._links.self.href).toBe('/api/v2/segments/acme/production/segment-audiences-beta')
      expect(data._links.site.href).toBe('/console/acme/production/segments/segment-audiences-beta')
      expect(data._unboundedMetadata?.lastModified).toBe(data.lastModifiedDate)
      expect(asUserSegment(data as ReturnType<typeof segmentRep>)).toBe(data)
      // LaunchDarkly's own key for an ID that merely looks like a hash tail.
      expect((await api.getSegment(PROJECT, ENV, 'segment-audiences-cohort-20240101')).data.key).toBe(
        'segment-audiences-cohort-20240101'
      )
    })

    it('getSegments pages with limit and offset and links the pages', async () => {
      const first = (await api.getSegments(PROJECT, ENV, 2, 0)).data
      expect(first.totalCount).toBe(4)
      expect(first.items.map((s) => s.key)).toEqual(['rudderstack-rs-1', 'segment-audiences-alpha'])
      expect(first._links.next.href).toBe('/api/v2/segments/acme/production?limit=2&offset=2')
      expect(first._links).not.toHaveProperty('prev')
      const second = (await api.getSegments(PROJECT, ENV, 2, 2)).data
      expect(second.items.map((s) => s.key)).toEqual([
        'segment-audiences-beta',
        'segment-audiences-cohort-20240101'
      ])
      expect(second._links).not.toHaveProperty('next')
      expect((await api.getSegments(PROJECT, ENV)).data.items).toHaveLength(4)
    })

    it('getSegments sorts and filters as LaunchDarkly documents', async () => {
      const keys = async (sort?: string, filter?: string) =>
        (await api.getSegments(PROJECT, ENV, undefined, undefined, sort, filter)).data.items.map((s) => s.key)
      const byName = [
        'segment-audiences-alpha',
        'segment-audiences-beta',
        'segment-audiences-cohort-20240101',
        'rudderstack-rs-1'
      ]
      expect(await keys('name')).toEqual(byName)
      expect(await keys('-name')).toEqual([...byName].reverse())
      expect(await keys(undefined, 'external:rudderstack')).toEqual(['rudderstack-rs-1'])
      expect(await keys('name', 'query:e,external:segment-audiences')).toEqual([
        'segment-audiences-alpha',
        'segment-audiences-beta',
        'segment-audiences-cohort-20240101'
      ])
      expect(await keys(undefined, 'query equals "COHORT-2024"')).toEqual([
        'segment-audiences-cohort-20240101'
      ])
      expect(
        await keys(undefined, 'unbounded equals true,excludedKeys anyOf ["rudderstack-rs-1"]')
      ).toHaveLength(3)
    })

    it('updateBigSegmentContextTargets edits both lists; getSegmentMembershipForContext reads them back', async () => {
      const update = await api.updateBigSegmentContextTargets(PROJECT, ENV, 'segment-audiences-beta', {
        included: { add: ['u4'], remove: ['u1'] },
        excluded: { add: ['u2', 'x1'] }
      })
      expect(update.status).toBe(204)
      const membership = async (key: string) =>
        (await api.getSegmentMembershipForContext(PROJECT, ENV, 'segment-audiences-beta', key)).data
      expect(await membership('u2')).toEqual({
        userKey: 'u2',
        included: true,
        excluded: true,
        contextKey: 'u2'
      })
      expect(await membership('x1')).toEqual({
        userKey: 'x1',
        included: false,
        excluded: true,
        contextKey: 'x1'
      })
      expect(await membership('u1')).toMatchObject({ userKey: 'u1', included: false, excluded: false })
      expect(await membership('u4')).toMatchObject({ included: true, excluded: false })

      // The legacy user-keyed calls reach the same lists.
      expect(
        (
          await api.updateBigSegmentTargets(PROJECT, ENV, 'segment-audiences-beta', {
            excluded: { remove: ['x1'] }
          })
        ).status
      ).toBe(204)
      expect(
        (await api.getSegmentMembershipForUser(PROJECT, ENV, 'segment-audiences-beta', 'x1')).data
      ).toMatchObject({ excluded: false })
      expect(
        (await api.getSegment(PROJECT, ENV, 'segment-audiences-beta')).data._unboundedMetadata
      ).toMatchObject({ includedCount: 3, excludedCount: 1 })
    })

    it("rejects with LaunchDarkly's error body, its id the request's", async () => {
      const missing = await failure(api.getSegment(PROJECT, ENV, 'nope'))
      expect(missing).toEqual({
        status: 404,
        data: {
          code: 'not_found',
          message: expect.stringContaining('nope'),
          id: expect.stringMatching(REQUEST_ID)
        }
      })
      const reader = new SegmentsApi(new Configuration({ apiKey: TOKENS.reader, basePath }))
      const refused = await failure(
        reader.updateBigSegmentContextTargets(PROJECT, ENV, 'segment-audiences-beta', {
          excluded: { add: ['u1'] }
        })
      )
      expect(refused).toMatchObject({
        status: 403,
        data: { code: 'forbidden', message: expect.stringMatching(/updateExcluded/) }
      })
    })

    it('deleteSegment removes the segment; a later sync re-creates it with generation 2', async () => {
      expect((await api.deleteSegment(PROJECT, ENV, 'segment-audiences-alpha')).status).toBe(204)
      expect((await failure(api.getSegment(PROJECT, ENV, 'segment-audiences-alpha'))).status).toBe(404)
      expect((await failure(api.deleteSegment(PROJECT, ENV, 'segment-audiences-alpha'))).status).toBe(404)
      const again = audienceBody([{ userId: 'u7', cohortId: 'alpha', value: true }])
      expect((await sync(receiver.app, 'segment-audiences', again)).statusCode).toBe(204)
      expect((await api.getSegment(PROJECT, ENV, 'segment-audiences-alpha')).data).toMatchObject({
        generation: 2,
        _unboundedMetadata: { includedCount: 1 }
      })
    })
  }
)
