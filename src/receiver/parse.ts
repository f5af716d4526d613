/**
 * §B2: a request body, read through an integration's compiled `requestParser`, becomes the
 * membership changes it asks for — or a 400 naming the pointer at fault. Pure and synchronous.
 *
 * Decisions where the spec is silent:
 * - The request-level cohort ID and name are always required, even when every member carries its
 *   own: a `segment-audiences` body with an empty `batch` is a 400 naming `/batch/0/cohortId`.
 * - A request without members yields its cohort with no ops (the sync still creates or renames the
 *   segment). Otherwise cohorts appear in the order of their first member; the request's cohort is
 *   listed only when a member belongs to it.
 * - A member that overrides the cohort ID but not the name gets the request's cohort name. A
 *   cohort's name is the last one seen for it. `cohortUrl` belongs to the request's cohort only.
 * - Ops keep the order of each context key's first appearance and carry its last operation. With
 *   add/remove arrays, the add array is read first, so a key in both arrays ends up removed.
 * - `cohortUrl` null or "" means no URL; any other non-string is a 400.
 * - The context kind is one per request; null or "" means `user`, as in LaunchDarkly's parser;
 *   other present values follow §A3's kind rule.
 * - A manifest whose add (or remove) array pointer is "" or absent has no such array: its requests
 *   only add (or only remove).
 * - IDs, names and the cohort URL must be well-formed Unicode: an unpaired surrogate is a 400.
 */
import { BadRequestError } from '../errors'
import type { MembershipOp } from '../store/types'
import type { CompiledIntegration, CompiledParser } from './integrations/compile'
import type { ParsedCohort, ParsedRequest } from './integrations/types'
import { NOT_FOUND, type CompiledPointer } from './pointer'

export const MAX_MEMBER_ID_LENGTH = 1024
export const DEFAULT_CONTEXT_KIND = 'user'
const CONTEXT_KIND = /^[A-Za-z0-9._-]+$/
/**
 * An unpaired surrogate (JSON allows `"\ud800"`). Stores keep UTF-8, which cannot hold one: two
 * different such IDs would read back as the same replacement characters, and two such cohort IDs
 * would hash to the same segment key. With the `u` flag, paired surrogates (emoji) do not match.
 */
const UNPAIRED_SURROGATE = /\p{Cs}/u

export function parseRequest(integration: CompiledIntegration, body: unknown): ParsedRequest {
  if (typeof body !== 'object' || body === null) {
    throw new BadRequestError(`the request body must be a JSON object or array, got ${describe(body)}`)
  }
  const parser = integration.parser
  const environmentId = requireId(
    parser.environmentId.find(body),
    parser.environmentId.pointer,
    'environment ID'
  )
  const contextKind = readContextKind(body, parser.contextKind)
  const cohortId = requireId(parser.cohortId.find(body), parser.cohortId.pointer, 'cohort ID')
  const cohortName = requireId(parser.cohortName.find(body), parser.cohortName.pointer, 'cohort name')
  const cohortUrl = readCohortUrl(body, parser.cohortUrl)
  const cohorts = new Cohorts(
    parser,
    cohortUrl === undefined ? { cohortId, cohortName, ops: [] } : { cohortId, cohortName, cohortUrl, ops: [] }
  )

  const mode = parser.mode
  switch (mode.kind) {
    case 'boolean': {
      const members = requireArray(body, mode.memberArray)
      const membership = mode.booleanMembership
      for (let i = 0; i < members.length; i++) {
        const member = members[i]
        const contextKey = cohorts.contextKey(member, mode.memberArray, i)
        const value = membership.find(member)
        if (value !== true && value !== false) {
          throw new BadRequestError(
            `${memberLabel(mode.memberArray, i, membership)}: ` +
              (value === NOT_FOUND
                ? 'missing membership value (true or false)'
                : `expected true or false, got ${describe(value)}`)
          )
        }
        cohorts.add(contextKey, member, mode.memberArray, i, value)
      }
      break
    }
    case 'inclusion': {
      const action = mode.action.find(body)
      if (typeof action !== 'string') {
        throw new BadRequestError(
          `${label(mode.action.pointer)}: ` +
            (action === NOT_FOUND ? 'missing action' : `expected a string, got ${describe(action)}`)
        )
      }
      const included = mode.matcher.test(action)
      const members = requireArray(body, mode.memberArray)
      for (let i = 0; i < members.length; i++) cohorts.addMember(members[i], mode.memberArray, i, included)
      break
    }
    case 'addRemove': {
      const { addArray, removeArray } = mode
      if (addArray !== undefined) {
        const added = optionalArray(body, addArray)
        for (let i = 0; i < added.length; i++) cohorts.addMember(added[i], addArray, i, true)
      }
      if (removeArray !== undefined) {
        const removed = optionalArray(body, removeArray)
        for (let i = 0; i < removed.length; i++) cohorts.addMember(removed[i], removeArray, i, false)
      }
      break
    }
  }
  return { environmentId, contextKind, cohorts: cohorts.result() }
}

interface CohortState {
  cohort: ParsedCohort
  // Context key → its op in `cohort.ops`, so a later op on the same key updates it in place.
  ops: Map<string, MembershipOp>
}

/** Collects members into cohorts, de-duplicating per (cohort, context key), last op winning. */
class Cohorts {
  private readonly byId = new Map<string, CohortState>()
  // Members of one request mostly share a cohort: remember the last one to skip the map lookup.
  private last: CohortState | undefined
  // Kept apart: members may rename the request's cohort, but other cohorts fall back to this name.
  private readonly requestCohortName: string

  constructor(
    private readonly parser: CompiledParser,
    private readonly requestCohort: ParsedCohort
  ) {
    this.requestCohortName = requestCohort.cohortName
  }

  addMember(member: unknown, array: CompiledPointer, index: number, included: boolean): void {
    this.add(this.contextKey(member, array, index), member, array, index, included)
  }

  contextKey(member: unknown, array: CompiledPointer, index: number): string {
    const id = this.parser.member.id
    // Plain non-empty strings take the fast path; requireId handles (and words errors for) the rest,
    // so a member's pointer label is only built when needed.
    const value = id.find(member)
    return typeof value === 'string' &&
      value.length > 0 &&
      value.length <= MAX_MEMBER_ID_LENGTH &&
      !UNPAIRED_SURROGATE.test(value)
      ? value
      : requireId(value, memberLabel(array, index, id), 'member ID', MAX_MEMBER_ID_LENGTH)
  }

  add(contextKey: string, member: unknown, array: CompiledPointer, index: number, included: boolean): void {
    const { cohortId: cohortIdPointer, cohortName: cohortNamePointer } = this.parser.member
    let cohortId = this.requestCohort.cohortId
    let cohortName: string | undefined
    if (cohortIdPointer !== undefined) {
      const value = cohortIdPointer.find(member)
      if (typeof value === 'string' && value.length > 0 && !UNPAIRED_SURROGATE.test(value)) cohortId = value
      else if (value !== NOT_FOUND)
        cohortId = requireId(value, memberLabel(array, index, cohortIdPointer), 'cohort ID')
    }
    if (cohortNamePointer !== undefined) {
      const value = cohortNamePointer.find(member)
      if (typeof value === 'string' && value.length > 0 && !UNPAIRED_SURROGATE.test(value)) cohortName = value
      else if (value !== NOT_FOUND)
        cohortName = requireId(value, memberLabel(array, index, cohortNamePointer), 'cohort name')
    }

    let state = this.last
    if (state === undefined || state.cohort.cohortId !== cohortId) {
      state = this.byId.get(cohortId)
      if (state === undefined) {
        const cohort: ParsedCohort =
          cohortId === this.requestCohort.cohortId
            ? this.requestCohort
            : { cohortId, cohortName: this.requestCohortName, ops: [] }
        state = { cohort, ops: new Map() }
        this.byId.set(cohortId, state)
      }
      this.last = state
    }
    if (cohortName !== undefined) state.cohort.cohortName = cohortName

    const op = state.ops.get(contextKey)
    if (op !== undefined) {
      op.included = included
    } else {
      const newOp: MembershipOp = { contextKey, included }
      state.ops.set(contextKey, newOp)
      state.cohort.ops.push(newOp)
    }
  }

  result(): ParsedCohort[] {
    if (this.byId.size === 0) return [this.requestCohort]
    const cohorts: ParsedCohort[] = []
    for (const state of this.byId.values()) cohorts.push(state.cohort)
    return cohorts
  }
}

/**
 * An ID (or cohort name): a non-empty string, or a finite number taken as its decimal string.
 * `false` and `0` are values like any other — only NOT_FOUND is missing.
 */
function requireId(value: unknown, where: string, what: string, maxLength?: number): string {
  if (typeof value === 'string') {
    if (value.length === 0) throw new BadRequestError(`${label(where)}: expected a non-empty ${what}, got ""`)
    if (maxLength !== undefined && value.length > maxLength) {
      throw new BadRequestError(
        `${label(where)}: ${what} is ${value.length} characters long, at most ${maxLength} are allowed`
      )
    }
    if (UNPAIRED_SURROGATE.test(value))
      throw new BadRequestError(`${label(where)}: ${what} holds an unpaired UTF-16 surrogate`)
    return value
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (value === NOT_FOUND) throw new BadRequestError(`${label(where)}: missing ${what}`)
  throw new BadRequestError(`${label(where)}: expected a string or number, got ${describe(value)}`)
}

function readContextKind(body: object, pointer: CompiledPointer | undefined): string {
  const value = pointer === undefined ? NOT_FOUND : pointer.find(body)
  if (value === NOT_FOUND || value === null || value === '') return DEFAULT_CONTEXT_KIND
  const where = label((pointer as CompiledPointer).pointer)
  if (typeof value !== 'string')
    throw new BadRequestError(`${where}: expected a context kind string, got ${describe(value)}`)
  if (!CONTEXT_KIND.test(value) || value === 'kind' || value === 'multi') {
    throw new BadRequestError(
      `${where}: ${JSON.stringify(value)} is not a valid context kind (letters, digits, ".", "_" and "-"; not "kind" or "multi")`
    )
  }
  return value
}

function readCohortUrl(body: object, pointer: CompiledPointer | undefined): string | undefined {
  const value = pointer === undefined ? NOT_FOUND : pointer.find(body)
  if (value === NOT_FOUND || value === null || value === '') return undefined
  if (typeof value !== 'string') {
    throw new BadRequestError(
      `${label((pointer as CompiledPointer).pointer)}: expected a URL string, got ${describe(value)}`
    )
  }
  if (UNPAIRED_SURROGATE.test(value)) {
    throw new BadRequestError(
      `${label((pointer as CompiledPointer).pointer)}: the URL holds an unpaired UTF-16 surrogate`
    )
  }
  return value
}

function requireArray(body: object, pointer: CompiledPointer): unknown[] {
  const value = pointer.find(body)
  if (Array.isArray(value)) return value
  throw new BadRequestError(
    `${label(pointer.pointer)}: ` +
      (value === NOT_FOUND ? 'missing member array' : `expected an array of members, got ${describe(value)}`)
  )
}

const NO_MEMBERS: unknown[] = []

function optionalArray(body: object, pointer: CompiledPointer): unknown[] {
  const value = pointer.find(body)
  if (value === NOT_FOUND) return NO_MEMBERS
  if (Array.isArray(value)) return value
  throw new BadRequestError(`${label(pointer.pointer)}: expected an array of members, got ${describe(value)}`)
}

/** The absolute pointer of a member's value, e.g. `/batch/3/userId` (built only for messages). */
function memberLabel(array: CompiledPointer, index: number, relative: CompiledPointer): string {
  return `${array.pointer}/${index}${relative.pointer}`
}

// "" (the whole body) would make messages start with ":".
function label(pointer: string): string {
  return pointer === '' ? '(request body)' : pointer
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a non-finite number'
  return typeof value
}
