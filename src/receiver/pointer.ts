/**
 * RFC 6901 JSON pointers, compiled once at manifest load and evaluated on the hot path.
 *
 * Lookups see own properties only: `/constructor` or `/__proto__` resolve only when the parsed
 * JSON really has such a key, never to something inherited from Object.prototype.
 */

/** Returned by `CompiledPointer.find` when the pointer does not resolve. */
export const NOT_FOUND: unique symbol = Symbol('json-pointer-not-found')

export interface PointerResult {
  found: boolean
  value?: unknown
}

export interface CompiledPointer {
  /** The pointer as written in the manifest. */
  readonly pointer: string
  /** Unescaped reference tokens (empty for `""`, the whole document). */
  readonly tokens: readonly string[]
  /** The value at the pointer, or `NOT_FOUND`. Allocation-free: use this on hot paths. */
  find(doc: unknown): unknown
  /** Convenience form of `find`. */
  get(doc: unknown): PointerResult
}

export class InvalidPointerError extends Error {
  constructor(
    readonly pointer: string,
    reason: string
  ) {
    super(`invalid JSON pointer ${JSON.stringify(pointer)}: ${reason}`)
    this.name = 'InvalidPointerError'
  }
}

const hasOwn = Object.prototype.hasOwnProperty
// RFC 6901 §4: an array index is "0" or a digit sequence without a leading zero.
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/
// Any "~" not followed by 0 or 1 is an invalid escape.
const BAD_ESCAPE = /~(?![01])/

class Pointer implements CompiledPointer {
  readonly tokens: readonly string[]
  // Per token: its array index, or -1 when the token can never index an array (e.g. "-", "01").
  private readonly indices: readonly number[]

  constructor(readonly pointer: string) {
    if (pointer !== '' && pointer.charCodeAt(0) !== 0x2f /* "/" */) {
      throw new InvalidPointerError(pointer, 'must be empty or start with "/"')
    }
    if (BAD_ESCAPE.test(pointer)) {
      throw new InvalidPointerError(pointer, '"~" must be followed by "0" or "1"')
    }
    const tokens = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapeToken)
    this.tokens = tokens
    this.indices = tokens.map((t) => (ARRAY_INDEX.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : -1))
  }

  find(doc: unknown): unknown {
    const tokens = this.tokens
    let current = doc
    for (let i = 0; i < tokens.length; i++) {
      if (typeof current !== 'object' || current === null) return NOT_FOUND
      if (Array.isArray(current)) {
        const index = this.indices[i]
        if (index < 0 || index >= current.length) return NOT_FOUND
        current = current[index]
      } else {
        const token = tokens[i]
        if (!hasOwn.call(current, token)) return NOT_FOUND
        current = (current as Record<string, unknown>)[token]
      }
    }
    // JSON has no undefined: a property holding it (built in JS, or an array hole) is absent.
    return current === undefined ? NOT_FOUND : current
  }

  get(doc: unknown): PointerResult {
    const value = this.find(doc)
    return value === NOT_FOUND ? { found: false } : { found: true, value }
  }
}

// Order matters (RFC 6901 §4): "~01" is "~1", not "/".
function unescapeToken(token: string): string {
  return token.indexOf('~') === -1 ? token : token.replace(/~1/g, '/').replace(/~0/g, '~')
}

/** Compiles a pointer; throws `InvalidPointerError` when it is not a valid RFC 6901 pointer. */
export function compilePointer(pointer: string): CompiledPointer {
  return new Pointer(pointer)
}
