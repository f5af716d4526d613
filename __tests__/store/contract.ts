/**
 * The behaviour every `SegmentStore` must have. Each store's test file calls `runStoreContract`
 * with a factory; every test opens its own store and works in its own environment, so tests are
 * independent of each other and of the order they run in.
 */
import { randomUUID } from 'node:crypto'
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../../src/errors'
import { importMembers } from '../../src/store/bulk'
import type {
  ApplyOptions,
  EnvironmentRef,
  ListOptions,
  MembershipOp,
  SegmentChange,
  SegmentStore
} from '../../src/store/types'

export type OpenStore = () => Promise<{ store: SegmentStore; cleanup: () => Promise<void> }>

const T0 = 1_700_000_000_000
const T1 = T0 + 60_000
const T2 = T0 + 120_000

const runId = randomUUID().slice(0, 8)
let envCounter = 0

/** A fresh environment (and Redis prefix) no other test touches. */
function freshEnv(): EnvironmentRef {
  envCounter += 1
  return {
    projectKey: `proj-${runId}-${envCounter}`,
    environmentKey: 'production',
    redisPrefix: `ss-test-${runId}-${envCounter}`
  }
}

/** Op builders and a collector, shared with the stores' own test files. */
export function adds(...keys: string[]): MembershipOp[] {
  return keys.map((contextKey) => ({ contextKey, included: true }))
}

export function removes(...keys: string[]): MembershipOp[] {
  return keys.map((contextKey) => ({ contextKey, included: false }))
}

export function change(segmentKey: string, ops: MembershipOp[], extra: Partial<SegmentChange> = {}): SegmentChange {
  return {
    segmentKey,
    name: `Cohort ${segmentKey}`,
    contextKind: 'user',
    integrationKey: 'segment-audiences',
    ops,
    ...extra
  }
}

function opts(now: number, allowCreate = true): ApplyOptions {
  return { allowCreate, now }
}

export async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const key of iterable) out.push(key)
  return out
}

/** Byte-wise (UTF-8) order, which is what the interface promises — not JavaScript's UTF-16 order. */
function byteOrder(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
}

export function runStoreContract(name: string, open: OpenStore): void {
  describe(`SegmentStore contract: ${name}`, () => {
    let store: SegmentStore
    let cleanup: () => Promise<void>
    let env: EnvironmentRef

    beforeEach(async () => {
      ;({ store, cleanup } = await open())
      env = freshEnv()
    })

    afterEach(async () => {
      await cleanup()
    })

    describe('creating and updating segments', () => {
      it('creates a segment on its first sync with the LaunchDarkly fields', async () => {
        const result = await store.apply(
          env,
          [
            change('segment-audiences-aud_1', adds('u1', 'u2'), {
              name: 'Ld segment test',
              contextKind: 'device',
              externalLink: 'https://app.segment.com/audiences/aud_1'
            })
          ],
          opts(T0)
        )
        const expected = {
          key: 'segment-audiences-aud_1',
          name: 'Ld segment test',
          unbounded: true,
          unboundedContextKind: 'device',
          generation: 1,
          creationDate: T0,
          lastModifiedDate: T0,
          _external: 'segment-audiences',
          _externalLink: 'https://app.segment.com/audiences/aud_1',
          includedCount: 2,
          excludedCount: 0,
          version: 1
        }
        expect(result.segments).toEqual([expected])
        expect(await store.getSegment(env, 'segment-audiences-aud_1')).toEqual(expected)
      })

      it('has no _externalLink when none is given', async () => {
        await store.apply(env, [change('seg', adds('u1'))], opts(T0))
        const segment = await store.getSegment(env, 'seg')
        expect(segment).toBeDefined()
        expect(segment).not.toHaveProperty('_externalLink')
        expect(segment?._external).toBe('segment-audiences')
      })

      it('uses the current time when no time is given', async () => {
        const before = Date.now()
        await store.apply(env, [change('seg', adds('u1'))], { allowCreate: true })
        const after = Date.now()
        const segment = await store.getSegment(env, 'seg')
        expect(segment?.creationDate).toBeGreaterThanOrEqual(before)
        expect(segment?.creationDate).toBeLessThanOrEqual(after)
        expect(segment?.lastModifiedDate).toBe(segment?.creationDate)
      })

      it('creates a segment even when the first sync only removes', async () => {
        const result = await store.apply(env, [change('seg', removes('u1'))], opts(T0))
        expect(result.segments[0]).toMatchObject({ key: 'seg', generation: 1, includedCount: 0 })
        expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 0 })
        expect(await collect(store.members(env, 'seg', {}))).toEqual([])
      })

      it('updates name and lastModifiedDate on a later sync and keeps creationDate and kind', async () => {
        await store.apply(env, [change('seg', adds('u1'), { name: 'Old name' })], opts(T0))
        const result = await store.apply(env, [change('seg', adds('u2'), { name: 'New name' })], opts(T1))
        const expected = {
          key: 'seg',
          name: 'New name',
          unboundedContextKind: 'user',
          generation: 1,
          creationDate: T0,
          lastModifiedDate: T1,
          includedCount: 2
        }
        expect(result.segments[0]).toMatchObject(expected)
        expect(await store.getSegment(env, 'seg')).toMatchObject(expected)
      })

      it('sets _externalLink on a later sync that gives one', async () => {
        await store.apply(env, [change('seg', adds('u1'))], opts(T0))
        await store.apply(
          env,
          [change('seg', adds('u2'), { externalLink: 'https://example.com/c/1' })],
          opts(T1)
        )
        expect(await store.getSegment(env, 'seg')).toMatchObject({ _externalLink: 'https://example.com/c/1' })
      })

      it('returns the touched segments in the order of the changes', async () => {
        const result = await store.apply(
          env,
          [change('zeta', adds('a')), change('alpha', adds('a', 'b')), change('mid', removes('a'))],
          opts(T0)
        )
        expect(result.segments.map((s) => [s.key, s.includedCount])).toEqual([
          ['zeta', 1],
          ['alpha', 2],
          ['mid', 0]
        ])
      })

      it('accepts an empty list of changes', async () => {
        expect(await store.apply(env, [], opts(T0))).toEqual({ segments: [] })
        expect(await store.listSegments(env, { limit: 50, offset: 0 })).toEqual({ items: [], totalCount: 0 })
      })
    })

    describe('membership', () => {
      it('adds, removes and re-adds members with an exact includedCount', async () => {
        await store.apply(env, [change('seg', adds('a', 'b', 'c'))], opts(T0))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 3 })

        const removed = await store.apply(env, [change('seg', removes('b'))], opts(T1))
        expect(removed.segments[0].includedCount).toBe(2)
        expect(await store.isIncluded(env, 'seg', 'b')).toBe(false)
        expect(await store.isIncluded(env, 'seg', 'a')).toBe(true)

        const readded = await store.apply(env, [change('seg', adds('b'))], opts(T2))
        expect(readded.segments[0].includedCount).toBe(3)
        expect(await store.isIncluded(env, 'seg', 'b')).toBe(true)
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['a', 'b', 'c'])
      })

      it('counts a member added again only once', async () => {
        await store.apply(env, [change('seg', adds('a', 'b'))], opts(T0))
        const result = await store.apply(env, [change('seg', adds('a', 'b', 'c'))], opts(T1))
        expect(result.segments[0].includedCount).toBe(3)
        expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 3 })
      })

      it('treats removing a non-member as harmless', async () => {
        await store.apply(env, [change('seg', adds('a'))], opts(T0))
        const result = await store.apply(env, [change('seg', removes('nobody', 'ghost'))], opts(T1))
        expect(result.segments[0].includedCount).toBe(1)
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['a'])
      })

      it('applies adds and removes of one change together', async () => {
        await store.apply(env, [change('seg', adds('a', 'b', 'c'))], opts(T0))
        const result = await store.apply(
          env,
          [change('seg', [...removes('a', 'c'), ...adds('d', 'e'), ...removes('zzz')])],
          opts(T1)
        )
        expect(result.segments[0].includedCount).toBe(3)
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['b', 'd', 'e'])
      })

      it('answers isIncluded false for unknown segments and unknown keys', async () => {
        await store.apply(env, [change('seg', adds('a'))], opts(T0))
        expect(await store.isIncluded(env, 'seg', 'a')).toBe(true)
        expect(await store.isIncluded(env, 'seg', 'b')).toBe(false)
        expect(await store.isIncluded(env, 'other', 'a')).toBe(false)
        expect(await store.getSegment(env, 'other')).toBeUndefined()
      })

      it('keeps segments of one environment apart from each other', async () => {
        await store.apply(env, [change('one', adds('a', 'b')), change('two', adds('b', 'c'))], opts(T0))
        await store.apply(env, [change('one', removes('b'))], opts(T1))
        expect(await collect(store.members(env, 'one', {}))).toEqual(['a'])
        expect(await collect(store.members(env, 'two', {}))).toEqual(['b', 'c'])
        expect(await store.getSegment(env, 'two')).toMatchObject({ includedCount: 2, lastModifiedDate: T0 })
      })
    })

    describe('errors change nothing', () => {
      it('rejects a sync with another context kind with a 409 and stores nothing of that call', async () => {
        await store.apply(
          env,
          [change('existing', adds('a'), { name: 'Kept' }), change('other', adds('x'))],
          opts(T0)
        )

        const attempt = store.apply(
          env,
          [
            change('other', [...adds('y'), ...removes('x')], { name: 'Renamed' }),
            change('brand-new', adds('n1', 'n2')),
            change('existing', adds('b'), { contextKind: 'device', name: 'Changed' })
          ],
          opts(T1)
        )
        await expect(attempt).rejects.toBeInstanceOf(ConflictError)
        await expect(attempt).rejects.toMatchObject({ statusCode: 409 })

        expect(await store.getSegment(env, 'existing')).toMatchObject({
          name: 'Kept',
          unboundedContextKind: 'user',
          lastModifiedDate: T0,
          includedCount: 1
        })
        expect(await store.getSegment(env, 'other')).toMatchObject({
          name: 'Cohort other',
          lastModifiedDate: T0,
          includedCount: 1
        })
        expect(await collect(store.members(env, 'other', {}))).toEqual(['x'])
        expect(await store.isIncluded(env, 'existing', 'b')).toBe(false)
        expect(await store.getSegment(env, 'brand-new')).toBeUndefined()
        expect(await store.isIncluded(env, 'brand-new', 'n1')).toBe(false)
        expect(await store.listSegments(env, { limit: 50, offset: 0 })).toMatchObject({ totalCount: 2 })
      })

      it('rejects a new segment without create permission with a 403 and stores nothing of that call', async () => {
        await store.apply(env, [change('existing', adds('a'))], opts(T0))

        const attempt = store.apply(
          env,
          [
            change('existing', [...adds('b'), ...removes('a')], { name: 'Changed' }),
            change('new', adds('n1'))
          ],
          opts(T1, false)
        )
        await expect(attempt).rejects.toBeInstanceOf(ForbiddenError)
        await expect(attempt).rejects.toMatchObject({ statusCode: 403 })

        expect(await store.getSegment(env, 'existing')).toMatchObject({
          name: 'Cohort existing',
          lastModifiedDate: T0,
          includedCount: 1
        })
        expect(await collect(store.members(env, 'existing', {}))).toEqual(['a'])
        expect(await store.getSegment(env, 'new')).toBeUndefined()
        expect(await store.isIncluded(env, 'new', 'n1')).toBe(false)
      })

      it('updates existing segments without create permission', async () => {
        await store.apply(env, [change('existing', adds('a'))], opts(T0))
        const result = await store.apply(
          env,
          [change('existing', adds('b'), { name: 'Renamed' })],
          opts(T1, false)
        )
        expect(result.segments[0]).toMatchObject({ name: 'Renamed', includedCount: 2, lastModifiedDate: T1 })
        expect(await store.isIncluded(env, 'existing', 'b')).toBe(true)
      })
    })

    describe('cohort IDs (§B4)', () => {
      it('remembers the cohort ID a segment was created for', async () => {
        await store.apply(env, [change('seg', adds('u1'), { cohortId: 'aud_1' })], opts(T0))
        await store.apply(env, [change('seg', adds('u2'), { cohortId: 'aud_1' })], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ cohortId: 'aud_1', includedCount: 2 })
      })

      it('refuses another cohort ID at the same key with a 409 naming both, applying nothing of the call', async () => {
        await store.apply(env, [change('seg', adds('u1'), { cohortId: 'Foo!' })], opts(T0))
        const refused = store.apply(
          env,
          [
            change('other', adds('u9'), { cohortId: 'x' }),
            change('seg', adds('u2'), { cohortId: 'foo-1a2b3c4d' })
          ],
          opts(T1)
        )
        await expect(refused).rejects.toBeInstanceOf(ConflictError)
        await expect(refused).rejects.toThrow(/"Foo!".*"foo-1a2b3c4d"/)
        expect(await store.getSegment(env, 'other')).toBeUndefined()
        expect(await store.getSegment(env, 'seg')).toMatchObject({
          cohortId: 'Foo!',
          includedCount: 1,
          lastModifiedDate: T0
        })
        expect(await store.isIncluded(env, 'seg', 'u2')).toBe(false)
      })

      it('refuses two cohort IDs of one call that meet at one new key', async () => {
        const refused = store.apply(
          env,
          [change('seg', adds('u1'), { cohortId: 'a' }), change('seg', adds('u2'), { cohortId: 'b' })],
          opts(T0)
        )
        await expect(refused).rejects.toMatchObject({ statusCode: 409 })
        expect(await store.getSegment(env, 'seg')).toBeUndefined()
      })

      it('lets a segment created without a cohort ID take the first one that arrives', async () => {
        await store.apply(env, [change('seg', adds('u1'))], opts(T0))
        expect(await store.getSegment(env, 'seg')).not.toHaveProperty('cohortId')
        await store.apply(env, [change('seg', adds('u2'), { cohortId: 'aud_1' })], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ cohortId: 'aud_1' })
        await expect(
          store.apply(env, [change('seg', adds('u3'), { cohortId: 'aud_2' })], opts(T2))
        ).rejects.toMatchObject({
          statusCode: 409
        })
      })

      it('forgets the cohort ID with the segment: a re-created segment may take another', async () => {
        await store.apply(env, [change('seg', adds('u1'), { cohortId: 'a' })], opts(T0))
        await store.deleteSegment(env, 'seg')
        await store.apply(env, [change('seg', adds('u1'), { cohortId: 'b' })], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ cohortId: 'b', generation: 2 })
      })
    })

    describe('version', () => {
      it('counts changes of the name and the cohort link, not of membership', async () => {
        await store.apply(env, [change('seg', adds('u1'), { name: 'A' })], opts(T0))
        await store.apply(env, [change('seg', adds('u2'), { name: 'A' })], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ version: 1 })
        await store.apply(env, [change('seg', adds('u3'), { name: 'B' })], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ version: 2 })
        await store.apply(
          env,
          [change('seg', [], { name: 'B', externalLink: 'https://example.com/c' })],
          opts(T2)
        )
        await store.apply(
          env,
          [change('seg', [], { name: 'B', externalLink: 'https://example.com/c' })],
          opts(T2)
        )
        expect(await store.getSegment(env, 'seg')).toMatchObject({ version: 3 })
      })
    })

    describe('targets: included and excluded lists (§B7)', () => {
      beforeEach(async () => {
        await store.apply(env, [change('seg', adds('u1', 'u2'))], opts(T0))
      })

      it('adds and removes excluded keys with an exact excludedCount, apart from the included ones', async () => {
        const after = await store.updateTargets(
          env,
          'seg',
          { excluded: { add: ['u2', 'x1', 'x2', 'x1'] } },
          { now: T1 }
        )
        expect(after).toMatchObject({
          key: 'seg',
          includedCount: 2,
          excludedCount: 3,
          lastModifiedDate: T1,
          creationDate: T0
        })
        expect(await store.membership(env, 'seg', 'u2')).toEqual({ included: true, excluded: true })
        expect(await store.membership(env, 'seg', 'x1')).toEqual({ included: false, excluded: true })
        expect(await store.membership(env, 'seg', 'u1')).toEqual({ included: true, excluded: false })
        expect(await store.membership(env, 'seg', 'nobody')).toEqual({ included: false, excluded: false })

        // Listed like members, in key order and cursor-paged, and apart from them.
        expect(await collect(store.members(env, 'seg', { excluded: true }))).toEqual(['u2', 'x1', 'x2'])
        expect(await collect(store.members(env, 'seg', { excluded: true, after: 'u2', limit: 1 }))).toEqual(['x1'])
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['u1', 'u2'])

        await store.updateTargets(env, 'seg', { excluded: { remove: ['x1', 'never'] } }, { now: T2 })
        expect(await store.getSegment(env, 'seg')).toMatchObject({ excludedCount: 2, includedCount: 2 })
        expect(await store.isIncluded(env, 'seg', 'x1')).toBe(false)
      })

      it('edits the included list as a sync does, removes before adds', async () => {
        const after = await store.updateTargets(
          env,
          'seg',
          { included: { add: ['u3', 'u1'], remove: ['u2', 'u3'] } },
          { now: T1 }
        )
        expect(after).toMatchObject({ includedCount: 2, excludedCount: 0 })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['u1', 'u3'])
      })

      it('answers undefined for an absent segment and creates nothing', async () => {
        expect(await store.updateTargets(env, 'absent', { included: { add: ['u1'] } })).toBeUndefined()
        expect(await store.getSegment(env, 'absent')).toBeUndefined()
        expect(await store.membership(env, 'absent', 'u1')).toEqual({ included: false, excluded: false })
      })

      it('keeps excluded keys across syncs, and drops them with the segment', async () => {
        await store.updateTargets(env, 'seg', { excluded: { add: ['x1'] } }, { now: T1 })
        await store.apply(env, [change('seg', adds('u3'))], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ excludedCount: 1, includedCount: 3 })
        await store.deleteSegment(env, 'seg')
        await store.apply(env, [change('seg', adds('u1'))], opts(T2))
        expect(await store.getSegment(env, 'seg')).toMatchObject({
          generation: 2,
          excludedCount: 0,
          includedCount: 1
        })
        expect(await store.membership(env, 'seg', 'x1')).toEqual({ included: false, excluded: false })
      })
    })

    describe('concurrent applies', () => {
      it('settles each concurrent apply on its own: a rejected one leaves the others applied', async () => {
        await store.apply(env, [change('seg', adds('a'))], opts(T0))
        const outcomes = await Promise.allSettled([
          store.apply(env, [change('seg', adds('b'))], opts(T1)),
          store.apply(
            env,
            [change('fresh', adds('x')), change('seg', adds('c'), { contextKind: 'device' })],
            opts(T1)
          ),
          store.apply(env, [change('seg', [...adds('c'), ...removes('a')])], opts(T1))
        ])
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
        expect(outcomes[1]).toMatchObject({ reason: { statusCode: 409 } })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['b', 'c'])
        expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 2 })
        expect(await store.getSegment(env, 'fresh')).toBeUndefined()
      })
    })

    describe('members()', () => {
      const keys = ['m05', 'm01', 'm10', 'm03', 'm07', 'm02', 'm09', 'm04', 'm08', 'm06']

      beforeEach(async () => {
        await store.apply(env, [change('seg', adds(...keys))], opts(T0))
      })

      it('lists members in ascending order', async () => {
        expect(await collect(store.members(env, 'seg', {}))).toEqual([...keys].sort())
      })

      it('starts strictly after the cursor', async () => {
        expect(await collect(store.members(env, 'seg', { after: 'm07' }))).toEqual(['m08', 'm09', 'm10'])
        expect(await collect(store.members(env, 'seg', { after: 'm075' }))).toEqual(['m08', 'm09', 'm10'])
        expect(await collect(store.members(env, 'seg', { after: 'a' }))).toHaveLength(10)
        expect(await collect(store.members(env, 'seg', { after: 'm10' }))).toEqual([])
      })

      it('stops at the limit', async () => {
        expect(await collect(store.members(env, 'seg', { limit: 3 }))).toEqual(['m01', 'm02', 'm03'])
        expect(await collect(store.members(env, 'seg', { after: 'm08', limit: 5 }))).toEqual(['m09', 'm10'])
        expect(await collect(store.members(env, 'seg', { limit: 100 }))).toHaveLength(10)
      })

      it('pages through every member exactly once with a cursor', async () => {
        const seen: string[] = []
        let after: string | undefined
        for (;;) {
          const page = await collect(store.members(env, 'seg', { after, limit: 3 }))
          if (page.length === 0) break
          seen.push(...page)
          after = page[page.length - 1]
        }
        expect(seen).toEqual([...keys].sort())
      })

      it('yields nothing for an absent segment or a segment without members', async () => {
        expect(await collect(store.members(env, 'absent', {}))).toEqual([])
        expect(await collect(store.members(env, 'absent', { after: 'x', limit: 10 }))).toEqual([])
        await store.apply(env, [change('emptied', adds('a')), change('seg', removes(...keys))], opts(T1))
        await store.apply(env, [change('emptied', removes('a'))], opts(T2))
        expect(await collect(store.members(env, 'emptied', {}))).toEqual([])
        expect(await collect(store.members(env, 'seg', {}))).toEqual([])
      })
    })

    describe('listSegments()', () => {
      it('orders by key and pages with limit and offset', async () => {
        const segmentKeys = ['s-c', 's-a', 's-e', 's-b', 's-d']
        await store.apply(
          env,
          segmentKeys.map((key, i) => change(key, adds(...Array.from({ length: i + 1 }, (_, j) => `u${j}`)))),
          opts(T0)
        )

        const all = await store.listSegments(env, { limit: 50, offset: 0 })
        expect(all.totalCount).toBe(5)
        expect(all.items.map((s) => s.key)).toEqual(['s-a', 's-b', 's-c', 's-d', 's-e'])
        expect(all.items.find((s) => s.key === 's-e')).toEqual(await store.getSegment(env, 's-e'))
        expect(all.items.map((s) => s.includedCount)).toEqual([2, 4, 1, 5, 3])

        const page = await store.listSegments(env, { limit: 2, offset: 1 })
        expect(page).toMatchObject({ totalCount: 5 })
        expect(page.items.map((s) => s.key)).toEqual(['s-b', 's-c'])

        const tail = await store.listSegments(env, { limit: 2, offset: 4 })
        expect(tail.items.map((s) => s.key)).toEqual(['s-e'])
        expect(await store.listSegments(env, { limit: 2, offset: 10 })).toEqual({ items: [], totalCount: 5 })
      })

      it('is empty for an environment without segments', async () => {
        expect(await store.listSegments(env, { limit: 50, offset: 0 })).toEqual({ items: [], totalCount: 0 })
      })
    })

    describe('listSegments(): sort and filter', () => {
      beforeEach(async () => {
        await store.apply(
          env,
          [change('b-key', adds('u1'), { name: 'Zebra', integrationKey: 'hightouch' })],
          opts(T1)
        )
        await store.apply(
          env,
          [change('a-key', adds('u1'), { name: 'mango', integrationKey: 'segment-audiences' })],
          opts(T2)
        )
        await store.apply(
          env,
          [change('c-key', adds('u1'), { name: 'Apple', integrationKey: 'hightouch' })],
          opts(T0)
        )
        await store.apply(env, [change('a-key', [], { name: 'mango' })], opts(T2 + 1))
      })
      const keysOf = (page: { items: Array<{ key: string }> }): string[] => page.items.map((item) => item.key)

      it('sorts by name (byte order), creationDate and lastModified, ascending or descending', async () => {
        const list = (sort: ListOptions['sort']) => store.listSegments(env, { limit: 50, offset: 0, sort })
        expect(keysOf(await list([{ field: 'name', descending: false }]))).toEqual([
          'c-key',
          'b-key',
          'a-key'
        ])
        expect(keysOf(await list([{ field: 'name', descending: true }]))).toEqual(['a-key', 'b-key', 'c-key'])
        expect(keysOf(await list([{ field: 'creationDate', descending: false }]))).toEqual([
          'c-key',
          'b-key',
          'a-key'
        ])
        expect(keysOf(await list([{ field: 'lastModified', descending: true }]))).toEqual([
          'a-key',
          'b-key',
          'c-key'
        ])
      })

      it('breaks ties by key and pages the sorted list', async () => {
        await store.apply(env, [change('d-key', adds('u1'), { name: 'Zebra' })], opts(T0))
        const page = await store.listSegments(env, {
          limit: 2,
          offset: 1,
          sort: [{ field: 'name', descending: true }]
        })
        expect(keysOf(page)).toEqual(['b-key', 'd-key'])
        expect(page.totalCount).toBe(4)
      })

      it('filters by text in the key or the name, case-insensitively', async () => {
        expect(
          keysOf(await store.listSegments(env, { limit: 50, offset: 0, filter: { query: ['ZEB'] } }))
        ).toEqual(['b-key'])
        expect(
          keysOf(await store.listSegments(env, { limit: 50, offset: 0, filter: { query: ['c-K'] } }))
        ).toEqual(['c-key'])
        expect(
          keysOf(
            await store.listSegments(env, { limit: 50, offset: 0, filter: { query: ['apple', 'mango'] } })
          )
        ).toEqual(['a-key', 'c-key'])
      })

      it('filters by integration and by keys, counting only the matches', async () => {
        const page = await store.listSegments(env, {
          limit: 1,
          offset: 0,
          filter: { external: ['hightouch'] },
          sort: [{ field: 'name', descending: false }]
        })
        expect(page).toMatchObject({ totalCount: 2 })
        expect(keysOf(page)).toEqual(['c-key'])
        expect(
          keysOf(await store.listSegments(env, { limit: 50, offset: 0, filter: { external: true } }))
        ).toHaveLength(3)
        expect(
          keysOf(
            await store.listSegments(env, {
              limit: 50,
              offset: 0,
              filter: { includedKeys: ['a-key', 'c-key'], excludedKeys: ['c-key'] }
            })
          )
        ).toEqual(['a-key'])
        expect(
          await store.listSegments(env, { limit: 50, offset: 0, filter: { query: ['nothing'] } })
        ).toEqual({ items: [], totalCount: 0 })
      })
    })

    describe('deleteSegment()', () => {
      it('deletes a segment and reports whether it existed', async () => {
        await store.apply(env, [change('seg', adds('a', 'b')), change('kept', adds('a'))], opts(T0))
        expect(await store.deleteSegment(env, 'seg')).toBe(true)
        expect(await store.deleteSegment(env, 'seg')).toBe(false)
        expect(await store.deleteSegment(env, 'never-existed')).toBe(false)

        expect(await store.getSegment(env, 'seg')).toBeUndefined()
        expect(await store.isIncluded(env, 'seg', 'a')).toBe(false)
        expect(await collect(store.members(env, 'seg', {}))).toEqual([])
        const list = await store.listSegments(env, { limit: 50, offset: 0 })
        expect(list.totalCount).toBe(1)
        expect(list.items.map((s) => s.key)).toEqual(['kept'])
        expect(await store.isIncluded(env, 'kept', 'a')).toBe(true)
      })

      it('re-creates a deleted segment with generation + 1 and only the new members', async () => {
        await store.apply(env, [change('seg', adds('old1', 'old2', 'both'))], opts(T0))
        await store.deleteSegment(env, 'seg')

        const result = await store.apply(
          env,
          [change('seg', adds('new1', 'both'), { name: 'Again' })],
          opts(T1)
        )
        const expected = {
          generation: 2,
          name: 'Again',
          creationDate: T1,
          lastModifiedDate: T1,
          includedCount: 2
        }
        expect(result.segments[0]).toMatchObject(expected)
        expect(await store.getSegment(env, 'seg')).toMatchObject(expected)
        expect(await store.isIncluded(env, 'seg', 'old1')).toBe(false)
        expect(await store.isIncluded(env, 'seg', 'old2')).toBe(false)
        expect(await store.isIncluded(env, 'seg', 'new1')).toBe(true)
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['both', 'new1'])

        await store.deleteSegment(env, 'seg')
        await store.apply(env, [change('seg', adds('third'))], opts(T2))
        expect(await store.getSegment(env, 'seg')).toMatchObject({ generation: 3, includedCount: 1 })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['third'])
      })

      it('lets a re-created segment take another context kind', async () => {
        await store.apply(env, [change('seg', adds('a'))], opts(T0))
        await store.deleteSegment(env, 'seg')
        await store.apply(env, [change('seg', adds('d1'), { contextKind: 'device' })], opts(T1))
        expect(await store.getSegment(env, 'seg')).toMatchObject({
          unboundedContextKind: 'device',
          generation: 2
        })
      })

      it('needs create permission to re-create a deleted segment', async () => {
        await store.apply(env, [change('seg', adds('a'))], opts(T0))
        await store.deleteSegment(env, 'seg')
        await expect(store.apply(env, [change('seg', adds('b'))], opts(T1, false))).rejects.toBeInstanceOf(
          ForbiddenError
        )
        expect(await store.getSegment(env, 'seg')).toBeUndefined()
      })
    })

    describe('environments', () => {
      it('keeps environments isolated from each other', async () => {
        const other: EnvironmentRef = {
          projectKey: `${env.projectKey}-other`,
          environmentKey: 'staging',
          redisPrefix: `${env.redisPrefix}-other`
        }
        const sameProject: EnvironmentRef = {
          projectKey: env.projectKey,
          environmentKey: 'staging',
          redisPrefix: `${env.redisPrefix}-staging`
        }
        await store.apply(env, [change('seg', adds('a', 'b'), { name: 'Prod' })], opts(T0))
        await store.apply(
          other,
          [change('seg', adds('c'), { name: 'Other', contextKind: 'device' })],
          opts(T1)
        )
        await store.apply(sameProject, [change('seg', adds('d'), { name: 'Staging' })], opts(T1))

        expect(await store.getSegment(env, 'seg')).toMatchObject({
          name: 'Prod',
          unboundedContextKind: 'user',
          includedCount: 2,
          generation: 1
        })
        expect(await store.getSegment(other, 'seg')).toMatchObject({
          name: 'Other',
          unboundedContextKind: 'device',
          includedCount: 1,
          generation: 1
        })
        expect(await store.isIncluded(env, 'seg', 'c')).toBe(false)
        expect(await store.isIncluded(other, 'seg', 'a')).toBe(false)
        expect(await store.isIncluded(sameProject, 'seg', 'a')).toBe(false)
        expect(await collect(store.members(sameProject, 'seg', {}))).toEqual(['d'])

        expect(await store.deleteSegment(other, 'seg')).toBe(true)
        expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 2 })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['a', 'b'])
        expect(await store.listSegments(env, { limit: 50, offset: 0 })).toMatchObject({ totalCount: 1 })
        expect(await store.listSegments(other, { limit: 50, offset: 0 })).toEqual({
          items: [],
          totalCount: 0
        })
        expect(await store.listSegments(sameProject, { limit: 50, offset: 0 })).toMatchObject({
          totalCount: 1
        })
      })
    })

    describe('keys and volume', () => {
      it('stores context keys with unicode, quotes, colons, wildcards and 1024 characters', async () => {
        const keys = [
          'plain',
          'ünïcödé',
          '日本語のキー',
          'emoji-😀',
          '\uFF21-fullwidth',
          `quote"double`,
          "quote'single",
          'back\\slash',
          'a:b:c',
          'segment.g1',
          'with space',
          '%_like*wildcards?',
          'new\nline',
          'x'.repeat(1024)
        ]
        await store.apply(env, [change('odd-keys.v1_x', adds(...keys))], opts(T0))

        expect(await store.getSegment(env, 'odd-keys.v1_x')).toMatchObject({ includedCount: keys.length })
        for (const key of keys) expect(await store.isIncluded(env, 'odd-keys.v1_x', key)).toBe(true)
        expect(await store.isIncluded(env, 'odd-keys.v1_x', 'x'.repeat(1023))).toBe(false)
        expect(await store.isIncluded(env, 'odd-keys.v1_x', '%')).toBe(false)
        expect(await collect(store.members(env, 'odd-keys.v1_x', {}))).toEqual(byteOrder(keys))

        await store.apply(env, [change('odd-keys.v1_x', removes(`quote"double`, 'a:b:c'))], opts(T1))
        expect(await store.isIncluded(env, 'odd-keys.v1_x', 'a:b:c')).toBe(false)
        expect(await store.getSegment(env, 'odd-keys.v1_x')).toMatchObject({ includedCount: keys.length - 2 })
      })

      it('applies many segments in one call', async () => {
        const changes = Array.from({ length: 100 }, (_, i) =>
          change(`seg-${String(i).padStart(3, '0')}`, adds(`shared`, `only-${i}`))
        )
        const result = await store.apply(env, changes, opts(T0))
        expect(result.segments).toHaveLength(100)
        expect(result.segments.every((s) => s.includedCount === 2 && s.generation === 1)).toBe(true)

        const list = await store.listSegments(env, { limit: 50, offset: 50 })
        expect(list.totalCount).toBe(100)
        expect(list.items[0].key).toBe('seg-050')
        expect(await store.isIncluded(env, 'seg-042', 'only-42')).toBe(true)
        expect(await store.isIncluded(env, 'seg-042', 'only-43')).toBe(false)
      })

      it('round-trips a large apply of 20,000 ops', async () => {
        const keys = Array.from({ length: 20_000 }, (_, i) => `ctx-${i}`)
        const result = await store.apply(env, [change('big', adds(...keys))], opts(T0))
        expect(result.segments[0].includedCount).toBe(20_000)

        const members = await collect(store.members(env, 'big', {}))
        expect(members).toEqual(byteOrder(keys))

        const removeEveryOther = keys.filter((_, i) => i % 2 === 0)
        const after = await store.apply(env, [change('big', removes(...removeEveryOther))], opts(T1))
        expect(after.segments[0].includedCount).toBe(10_000)
        expect(await store.isIncluded(env, 'big', 'ctx-0')).toBe(false)
        expect(await store.isIncluded(env, 'big', 'ctx-1')).toBe(true)
        expect(await collect(store.members(env, 'big', { after: 'ctx-9998' }))).toEqual(['ctx-9999'])
      })
    })

    describe('imports and exports', () => {
      /** The keys in batches of three, as a file's chunks bring them (the stores cut them again). */
      async function* fromArray(keys: string[]): AsyncGenerator<string[]> {
        for (let i = 0; i < keys.length; i += 3) yield keys.slice(i, i + 3)
      }

      /** Yields the keys, then fails as a bad file does halfway. */
      async function* failingAfter(keys: string[], message: string): AsyncGenerator<string[]> {
        yield* fromArray(keys)
        throw new BadRequestError(message)
      }

      const seed = async (...keys: string[]): Promise<void> => {
        await store.apply(env, [change('seg', adds(...keys))], opts(T0))
      }

      it('replace leaves exactly the staged keys, counting what it added and removed', async () => {
        await seed('old-1', 'old-2', 'kept')
        const record = await importMembers(
          store,
          env,
          'seg',
          fromArray(['kept', 'new-2', 'new-1', 'new-2']),
          'replace',
          {
            id: 'imp-1',
            now: T1
          }
        )
        expect(record).toMatchObject({
          id: 'imp-1',
          segmentKey: 'seg',
          mode: 'replace',
          status: 'complete',
          keys: 4,
          added: 2,
          removed: 2
        })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['kept', 'new-1', 'new-2'])
        expect((await store.getSegment(env, 'seg'))?.includedCount).toBe(3)
        expect(await store.isIncluded(env, 'seg', 'old-1')).toBe(false)
        expect(await store.getImport(env, 'seg', 'imp-1')).toEqual({ ...record, creationTime: T1 })
        expect(await store.getImport(env, 'other-seg', 'imp-1')).toBeUndefined()
        expect(await store.segmentsImporting(env, ['seg'])).toEqual(new Set())
      })

      it('merge adds the staged keys and removes nothing', async () => {
        await seed('old-1', 'kept')
        const record = await importMembers(store, env, 'seg', fromArray(['kept', 'new-1']), 'merge', {
          id: 'imp-2'
        })
        expect(record).toMatchObject({ status: 'complete', added: 1, removed: 0 })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['kept', 'new-1', 'old-1'])
      })

      it('a replace of 20,000 keys over 10,000 others keeps the overlap and nothing else', async () => {
        await seed(...Array.from({ length: 10_000 }, (_, i) => `ctx-${i * 2}`))
        const keys = Array.from({ length: 20_000 }, (_, i) => `ctx-${i}`)
        const record = await importMembers(store, env, 'seg', fromArray([...keys].reverse()), 'replace', {
          id: 'imp-3'
        })
        expect(record).toMatchObject({ added: 10_000, removed: 0 })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(byteOrder(keys))
        const again = await importMembers(store, env, 'seg', fromArray(keys.slice(0, 5)), 'replace', {
          id: 'imp-4'
        })
        expect(again).toMatchObject({ added: 0, removed: 19_995 })
        expect((await store.getSegment(env, 'seg'))?.includedCount).toBe(5)
      })

      it('needs an existing segment, and one import of a segment at a time', async () => {
        await expect(store.beginImport(env, 'missing', { id: 'imp-5' })).rejects.toThrow(NotFoundError)
        await seed('a')
        await store.beginImport(env, 'seg', { id: 'imp-6', filename: 'keys.csv' })
        expect(await store.segmentsImporting(env, ['seg', 'missing'])).toEqual(new Set(['seg']))
        await expect(store.beginImport(env, 'seg', { id: 'imp-7' })).rejects.toThrow(ConflictError)
        expect(await store.getImport(env, 'seg', 'imp-6')).toMatchObject({
          status: 'preparing',
          filename: 'keys.csv',
          mode: 'merge'
        })
        await store.stopImport(env, 'imp-6', 'given up')
        expect(await store.getImport(env, 'seg', 'imp-6')).toMatchObject({
          status: 'stopped',
          error: 'given up'
        })
        expect(await store.segmentsImporting(env, ['seg'])).toEqual(new Set())
        await expect(store.applyImport(env, 'imp-6', 'merge')).rejects.toThrow(NotFoundError)
      })

      it('a file failing halfway stops the import and changes nothing', async () => {
        await seed('old-1', 'old-2')
        const before = await collect(store.members(env, 'seg', {}))
        await store.beginImport(env, 'seg', { id: 'imp-8' })
        const staged = Array.from({ length: 12_000 }, (_, i) => `staged-${i}`)
        await expect(
          store.stageImport(env, 'imp-8', failingAfter(staged, 'row 12001: bad key'))
        ).rejects.toThrow('row 12001: bad key')
        expect(await store.getImport(env, 'seg', 'imp-8')).toMatchObject({
          status: 'stopped',
          error: 'row 12001: bad key',
          added: 0
        })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(before)
        expect(await store.isIncluded(env, 'seg', 'staged-1')).toBe(false)
        expect((await store.getSegment(env, 'seg'))?.includedCount).toBe(2)
        expect(await store.segmentsImporting(env, ['seg'])).toEqual(new Set())
        await expect(store.applyImport(env, 'imp-8', 'replace')).rejects.toThrow(NotFoundError)
      })

      it('stops, changing nothing, when the segment is deleted before the import is applied', async () => {
        await seed('a')
        await store.beginImport(env, 'seg', { id: 'imp-9' })
        await store.stageImport(env, 'imp-9', fromArray(['b']))
        await store.deleteSegment(env, 'seg')
        await store.apply(env, [change('seg', adds('c'))], opts(T1))
        await expect(store.applyImport(env, 'imp-9', 'replace')).rejects.toThrow(/segment/)
        expect(await store.getImport(env, 'seg', 'imp-9')).toMatchObject({ status: 'stopped' })
        expect(await collect(store.members(env, 'seg', {}))).toEqual(['c'])
      })

      it('keeps export records per segment', async () => {
        await seed('a')
        const record = {
          id: 'exp-1',
          segmentKey: 'seg',
          status: 'complete' as const,
          creationTime: T0,
          initiator: 'writer',
          keys: 1,
          sizeBytes: 6
        }
        await store.saveExport(env, record)
        expect(await store.getExport(env, 'seg', 'exp-1')).toEqual(record)
        expect(await store.getExport(env, 'other', 'exp-1')).toBeUndefined()
        expect(await store.getExport(freshEnv(), 'seg', 'exp-1')).toBeUndefined()
      })
    })

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })
  })
}
