/**
 * §B4: the segment key of a cohort.
 *
 * Plain form `<integrationKey>-<cohortId>` for IDs in a segment key's alphabet, hashed form
 * `<integrationKey>-<slug>-<8 hex of sha256(cohortId)>` for the rest, always ≤ 256 characters.
 *
 * Why the two forms cannot collide: every hashed key ends in `-` + 8 lower-case hex digits after a
 * `[a-z0-9-]` slug, so its tail after `<integrationKey>-` is itself a valid plain cohort ID. The
 * spec's rule alone would therefore let a plain ID such as `foo-1a2b3c4d` take the key of a hashed
 * ID (`Foo!` hashing to 1a2b3c4d). So a plain-looking ID that has exactly the shape of a hashed
 * tail (`^[a-z0-9-]*-[0-9a-f]{8}$`) is hashed too; plain keys then never have that tail shape and
 * never meet a hashed key. IDs with an upper-case letter, "." or "_", or not ending in
 * `-` + 8 hex, keep the plain form the spec describes.
 * Two hashed keys meet only if two IDs share both the slug and the 32-bit hash prefix. The hash
 * is taken over the ID's UTF-8 bytes, or over its UTF-16 code units when it holds a lone surrogate
 * (UTF-8 would turn every lone surrogate into U+FFFD and make such IDs hash alike).
 */
import { createHash } from 'node:crypto'

export const MAX_SEGMENT_KEY_LENGTH = 256
const HASH_LENGTH = 8

const PLAIN_ID = /^[A-Za-z0-9._-]+$/
const HASHED_TAIL = /^[a-z0-9-]*-[0-9a-f]{8}$/
// In a `u` regex a surrogate range matches only unpaired surrogates (pairs are one code point).
const LONE_SURROGATE = /[\ud800-\udfff]/u

export function segmentKeyFor(integrationKey: string, cohortId: string): string {
  const plain = `${integrationKey}-${cohortId}`
  if (plain.length <= MAX_SEGMENT_KEY_LENGTH && PLAIN_ID.test(cohortId) && !HASHED_TAIL.test(cohortId)) return plain

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
