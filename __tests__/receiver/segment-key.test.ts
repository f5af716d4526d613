import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { MAX_SEGMENT_KEY_LENGTH, segmentKeyFor } from '../../src/receiver/segment-key'

const sha8 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 8)
const HASHED = /^segment-audiences-[a-z0-9-]+-[0-9a-f]{8}$/
const KEY_ALPHABET = /^[A-Za-z0-9._-]+$/

describe('segmentKeyFor: plain form', () => {
  it.each(['aud_2Ix8Yq0B3eP5sT7uV9wX1yZ', 'segment-1234', 'Segment.1234', '6v8x2lk', '4711', '-', 'a-b-c', 'cohort-deadbeefX', 'cohort-20240101', 'seg-12345678', 'a-deadbeef'])('%s', (id) => {
    expect(segmentKeyFor('segment-audiences', id)).toBe(`segment-audiences-${id}`)
  })

  it('keeps the plain form up to exactly 256 characters', () => {
    const id = 'x'.repeat(MAX_SEGMENT_KEY_LENGTH - 'amplitude-'.length)
    expect(segmentKeyFor('amplitude', id)).toBe(`amplitude-${id}`)
    expect(segmentKeyFor('amplitude', id)).toHaveLength(256)
  })
})

describe('segmentKeyFor: hashed form', () => {
  it.each([
    ['Segment 1234', 'segment-1234'],
    ['Power users (EU)!', 'power-users-eu'],
    ['Café Crème', 'cafe-creme'],
    ['a/b\\c', 'a-b-c'],
    ['  padded  ', 'padded'],
    ['日本語', 'cohort'],
    ['', 'cohort']
  ])('%j → slug %j and sha256 prefix', (id, slug) => {
    expect(segmentKeyFor('segment-audiences', id)).toBe(`segment-audiences-${slug}-${sha8(id)}`)
  })

  it('hashes IDs whose plain key would pass 256 characters, trimming the slug to fit', () => {
    const id = 'a'.repeat(MAX_SEGMENT_KEY_LENGTH - 'amplitude-'.length + 1)
    const key = segmentKeyFor('amplitude', id)
    expect(key).toHaveLength(256)
    expect(key).toBe(`amplitude-${'a'.repeat(256 - 'amplitude-'.length - 9)}-${sha8(id)}`)
  })

  it('never ends a trimmed slug with "-"', () => {
    const id = 'ab '.repeat(200)
    expect(segmentKeyFor('amplitude', id)).toMatch(/^amplitude-[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9a-f]{8}$/)
  })

  it('keeps plain-looking IDs plain even when they have the shape of a hashed key (the store refuses a collision)', () => {
    const hashedKey = segmentKeyFor('segment-audiences', 'Foo!')
    const lookalike = hashedKey.slice('segment-audiences-'.length) // "foo-<8 hex>", a valid plain ID
    expect(lookalike).toMatch(KEY_ALPHABET)
    expect(segmentKeyFor('segment-audiences', lookalike)).toBe(hashedKey)
  })

  it('distinguishes IDs that differ only in lone surrogates (UTF-8 would make them all U+FFFD)', () => {
    const a = segmentKeyFor('x', 'id\ud800')
    const b = segmentKeyFor('x', 'id\ud801')
    expect(a).not.toBe(b)
    expect(a).toMatch(/^x-id-[0-9a-f]{8}$/)
  })
})

describe('segmentKeyFor: properties', () => {
  const anyId = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.stringMatching(/^[A-Za-z0-9._-]{1,300}$/),
    fc.stringMatching(/^[a-z0-9-]{0,20}-[0-9a-f]{8}$/)
  )

  it('is deterministic, at most 256 characters, in the segment key alphabet, plain or hashed', () => {
    fc.assert(
      fc.property(anyId, (id) => {
        const key = segmentKeyFor('segment-audiences', id)
        expect(segmentKeyFor('segment-audiences', id)).toBe(key)
        expect(key.length).toBeLessThanOrEqual(MAX_SEGMENT_KEY_LENGTH)
        expect(key).toMatch(KEY_ALPHABET)
        expect(key === `segment-audiences-${id}` || HASHED.test(key)).toBe(true)
      }),
      { numRuns: 1000 }
    )
  })

  it('distinct plain IDs get distinct keys', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9._-]{1,200}$/), { minLength: 2, maxLength: 50 }), (ids) => {
        const keys = ids.map((id) => segmentKeyFor('segment-audiences', id))
        expect(new Set(keys).size).toBe(ids.length)
      }),
      { numRuns: 300 }
    )
  })

  it('every plain ID within 256 characters keeps its plain key', () => {
    fc.assert(
      fc.property(anyId, (id) => {
        if (KEY_ALPHABET.test(id) && id.length <= MAX_SEGMENT_KEY_LENGTH - 'segment-audiences-'.length) {
          expect(segmentKeyFor('segment-audiences', id)).toBe(`segment-audiences-${id}`)
        }
      }),
      { numRuns: 1000 }
    )
  })
})
