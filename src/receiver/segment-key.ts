/**
 * §B4: the segment key of a cohort.
 *
 * Plain form `<integrationKey>-<cohortId>` for every ID in a segment key's alphabet whose key stays
 * within 256 characters: that is LaunchDarkly's key, and SDK users must be able to reuse it. Hashed
 * form `<integrationKey>-<slug>-<8 hex of sha256(cohortId)>` for the rest.
 *
 * The two forms can meet (a plain ID `foo-1a2b3c4d` has the key a hashed `Foo!` might get), and two
 * hashed IDs can share slug and hash prefix. Such collisions are not avoided by changing keys: the
 * store remembers the cohort ID a segment was created for and refuses a different one at the same
 * key with a 409 (see `SegmentChange.cohortId`). The hash is taken over the ID's UTF-8 bytes, or
 * over its UTF-16 code units when it holds a lone surrogate (UTF-8 would turn every lone surrogate
 * into U+FFFD and make such IDs hash alike).
 */
import { createHash } from 'node:crypto'

export const MAX_SEGMENT_KEY_LENGTH = 256
const HASH_LENGTH = 8

const PLAIN_ID = /^[A-Za-z0-9._-]+$/
// In a `u` regex a surrogate range matches only unpaired surrogates (pairs are one code point).
const LONE_SURROGATE = /[\ud800-\udfff]/u

export function segmentKeyFor(integrationKey: string, cohortId: string): string {
  const plain = `${integrationKey}-${cohortId}`
  if (plain.length <= MAX_SEGMENT_KEY_LENGTH && PLAIN_ID.test(cohortId)) return plain

  const hash = createHash('sha256')
    .update(LONE_SURROGATE.test(cohortId) ? Buffer.from(cohortId, 'utf16le') : Buffer.from(cohortId, 'utf8'))
    .digest('hex')
    .slice(0, HASH_LENGTH)
  const room = MAX_SEGMENT_KEY_LENGTH - integrationKey.length - HASH_LENGTH - 2
  return `${integrationKey}-${slugify(cohortId, room)}-${hash}`
}

/** Lower-case `[a-z0-9-]`, runs of anything else as one "-", at most `maxLength`, never empty. */
function slugify(cohortId: string, maxLength: number): string {
  const slug = cohortId
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // accents: "Café" → "cafe"
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, Math.max(maxLength, 1))
    .replace(/^-+|-+$/g, '')
  return slug === '' ? 'cohort' : slug
}
