/**
 * An independent model of §B2, written from the manifests themselves (read as plain JSON, not
 * through the receiver's compiler): an abstract sync request (who is added or removed, from which
 * cohort) is turned into the body a partner would send, and separately into the operations the
 * receiver must derive from it. The property tests check that the receiver's parser and HTTP
 * answers agree with this model.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { BUNDLED_INTEGRATIONS_DIR, type RequestParser } from '../../src/receiver/integrations'

/** The manifest's requestParser as written: only its shape is shared with the receiver, not its reading. */
export type RawParser = RequestParser

export type Mode = 'boolean' | 'inclusion' | 'addRemove'

export interface Manifest {
  key: string
  parser: RawParser
  mode: Mode
  hasTemplate: boolean
}

export function bundledManifests(): Manifest[] {
  return readdirSync(BUNDLED_INTEGRATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((key) => {
      const manifest = JSON.parse(readFileSync(join(BUNDLED_INTEGRATIONS_DIR, key, 'manifest.json'), 'utf8')) as {
        capabilities: { syncedSegment: { requestParser: RawParser; jsonResponseBody?: string } }
      }
      const { requestParser: parser, jsonResponseBody } = manifest.capabilities.syncedSegment
      const mode: Mode = parser.addMemberArrayPath ? 'addRemove' : parser.arrayInclusion ? 'inclusion' : 'boolean'
      return { key, parser, mode, hasTemplate: jsonResponseBody !== undefined }
    })
}

export type Id = string | number

export interface AbstractMember {
  id: Id
  included: boolean
  /** Per-member cohort override (boolean-mode manifests with a member cohortIdPath only). */
  cohortId?: Id
  cohortName?: string
}

export interface AbstractRequest {
  environmentId: string
  contextKind?: string
  cohortId: Id
  cohortName: string
  cohortUrl?: string
  /** inclusion mode: the action string every member shares. */
  action?: string
  members: AbstractMember[]
}

export interface ModelOp {
  contextKey: string
  included: boolean
}
export interface ModelCohort {
  cohortId: string
  cohortName: string
  cohortUrl?: string
  ops: ModelOp[]
}
export interface ModelRequest {
  environmentId: string
  contextKind: string
  cohorts: ModelCohort[]
}

function tokens(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** Writes `value` at `pointer`, creating objects (or arrays, for numeric tokens) on the way. */
export function setAt(doc: Record<string, unknown>, pointer: string, value: unknown): void {
  const path = tokens(pointer)
  let current: Record<string, unknown> | unknown[] = doc
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]
    const nextIsIndex = /^\d+$/.test(path[i + 1])
    const container = current as Record<string, unknown>
    if (typeof container[key] !== 'object' || container[key] === null) container[key] = nextIsIndex ? [] : {}
    current = container[key] as Record<string, unknown>
  }
  ;(current as Record<string, unknown>)[path[path.length - 1]] = value
}

/** The request-level cohort pointers read from the first member (segment-audiences, amplitude, census). */
export function cohortInFirstMember(manifest: Manifest): boolean {
  const array = manifest.parser.memberArrayPath
  return array !== undefined && manifest.parser.cohortIdPath.startsWith(`${array}/0/`)
}

/** The body a partner sends for this abstract request, following the manifest's pointers. */
export function bodyFor(manifest: Manifest, request: AbstractRequest): Record<string, unknown> {
  const p = manifest.parser
  const m = p.memberArrayParser
  const body: Record<string, unknown> = {}
  const member = (a: AbstractMember, withMembership: boolean): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    setAt(out, m.memberIdPath, a.id)
    if (withMembership && m.booleanMembershipPath) setAt(out, m.booleanMembershipPath, a.included)
    if (a.cohortId !== undefined && m.cohortIdPath) setAt(out, m.cohortIdPath, a.cohortId)
    if (a.cohortName !== undefined && m.cohortNamePath) setAt(out, m.cohortNamePath, a.cohortName)
    return out
  }
  switch (manifest.mode) {
    case 'boolean':
      setAt(body, p.memberArrayPath as string, request.members.map((a) => member(a, true)))
      break
    case 'inclusion':
      setAt(body, p.memberArrayPath as string, request.members.map((a) => member(a, false)))
      setAt(body, (p.arrayInclusion as { path: string }).path, request.action)
      break
    case 'addRemove': {
      const adds = request.members.filter((a) => a.included)
      const removes = request.members.filter((a) => !a.included)
      // Either array may be left out when it would be empty.
      if (adds.length > 0 || removes.length === 0) setAt(body, p.addMemberArrayPath as string, adds.map((a) => member(a, false)))
      if (removes.length > 0) setAt(body, p.removeMemberArrayPath as string, removes.map((a) => member(a, false)))
      break
    }
  }
  setAt(body, p.environmentIdPath, request.environmentId)
  if (p.contextKindPath && request.contextKind !== undefined) setAt(body, p.contextKindPath, request.contextKind)
  setAt(body, p.cohortIdPath, request.cohortId)
  setAt(body, p.cohortNamePath, request.cohortName)
  if (p.cohortUrlPath && request.cohortUrl !== undefined) setAt(body, p.cohortUrlPath, request.cohortUrl)
  return body
}

/** What the receiver must make of it, straight from §B2's rules. */
export function modelOf(manifest: Manifest, request: AbstractRequest): ModelRequest {
  const key = (id: Id): string => (typeof id === 'number' ? String(id) : id)
  const requestCohort = key(request.cohortId)
  const steps: { cohort: string; name?: string; contextKey: string; included: boolean }[] = []
  // add/remove bodies list every add before every remove.
  const members =
    manifest.mode === 'addRemove' ? [...request.members.filter((a) => a.included), ...request.members.filter((a) => !a.included)] : request.members
  for (const a of members) {
    const included =
      manifest.mode === 'inclusion' ? new RegExp((manifest.parser.arrayInclusion as { matcher: string }).matcher).test(request.action ?? '') : a.included
    const perMember = manifest.mode === 'boolean' && manifest.parser.memberArrayParser.cohortIdPath !== undefined
    steps.push({
      cohort: perMember && a.cohortId !== undefined ? key(a.cohortId) : requestCohort,
      name: perMember ? a.cohortName : undefined,
      contextKey: key(a.id),
      included
    })
  }
  const url = request.cohortUrl === undefined || request.cohortUrl === '' ? undefined : request.cohortUrl
  const cohorts = new Map<string, { name: string; ops: Map<string, boolean> }>()
  for (const step of steps) {
    let cohort = cohorts.get(step.cohort)
    if (!cohort) cohorts.set(step.cohort, (cohort = { name: request.cohortName, ops: new Map() }))
    if (step.name !== undefined) cohort.name = step.name
    // A Map keeps the first insertion's position: a later op on the same key updates it in place.
    cohort.ops.set(step.contextKey, step.included)
  }
  if (cohorts.size === 0) cohorts.set(requestCohort, { name: request.cohortName, ops: new Map() })
  return {
    environmentId: request.environmentId,
    contextKind: manifest.parser.contextKindPath && request.contextKind !== undefined ? request.contextKind : 'user',
    cohorts: [...cohorts].map(([cohortId, c]) => ({
      cohortId,
      cohortName: c.name,
      ...(cohortId === requestCohort && url !== undefined ? { cohortUrl: url } : {}),
      ops: [...c.ops].map(([contextKey, included]) => ({ contextKey, included }))
    }))
  }
}

/** Member IDs a partner might send: any Unicode, numbers, and the keys that trip naive code. */
export const memberIdArb: fc.Arbitrary<Id> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Id>('dup', 'dup', 1, '1', '__proto__', 'constructor', 'toString', 'a/b', '~0~1', '%2F..%2F', ' ', 'x'.repeat(1024), '😀', 'e\u0301', '\u0000')
  }
)

export const cohortIdArb: fc.Arbitrary<Id> = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
  fc.integer({ min: 0 }),
  fc.constantFrom<Id>('c1', 'c2', 'with space', 'ü')
)

const contextKindArb = fc.option(
  fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((k) => k !== 'kind' && k !== 'multi'),
  { nil: undefined }
)

const actionArb = fc.oneof(
  fc.constantFrom('add', 'members', 'add_members', 'remove', 'remove_member', 'remove_members', 'ADD', 'xadd', 'add '),
  fc.string({ maxLength: 12 })
)

/** Valid abstract requests for a manifest; `ids`/`cohorts` narrow the values (e.g. to small pools). */
export function requestArb(
  manifest: Manifest,
  options: { environmentId: string; ids?: fc.Arbitrary<Id>; cohorts?: fc.Arbitrary<Id>; maxMembers?: number }
): fc.Arbitrary<AbstractRequest> {
  const ids = options.ids ?? memberIdArb
  const cohorts = options.cohorts ?? cohortIdArb
  const perMember = manifest.mode === 'boolean' && manifest.parser.memberArrayParser.cohortIdPath !== undefined
  const member: fc.Arbitrary<AbstractMember> = perMember
    ? fc.record(
        {
          id: ids,
          included: fc.boolean(),
          cohortId: fc.option(cohorts, { nil: undefined }),
          cohortName: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined })
        },
        { requiredKeys: ['id', 'included'] }
      )
    : fc.record({ id: ids, included: fc.boolean() })
  const firstMemberCarriesCohort = cohortInFirstMember(manifest)
  return fc
    .record({
      contextKind: contextKindArb,
      cohortId: cohorts,
      cohortName: fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
      cohortUrl: fc.option(fc.webUrl(), { nil: undefined }),
      action: actionArb,
      members: fc.array(member, { minLength: firstMemberCarriesCohort ? 1 : 0, maxLength: options.maxMembers ?? 12 })
    })
    .map((r) => {
      const request: AbstractRequest = {
        environmentId: options.environmentId,
        contextKind: r.contextKind,
        cohortId: r.cohortId,
        cohortName: r.cohortName,
        members: r.members
      }
      if (manifest.parser.cohortUrlPath) request.cohortUrl = r.cohortUrl
      if (manifest.mode === 'inclusion') request.action = r.action
      // The request's cohort is read from the first member: that member belongs to it, by name too.
      if (firstMemberCarriesCohort) request.members[0] = { ...request.members[0], cohortId: r.cohortId, cohortName: r.cohortName }
      return request
    })
}

/** Every pointer a manifest reads, absolute (member pointers under the first member of each array). */
export function pointersOf(manifest: Manifest): { pointer: string; role: string }[] {
  const p = manifest.parser
  const m = p.memberArrayParser
  const out: { pointer: string; role: string }[] = [
    { pointer: p.environmentIdPath, role: 'id' },
    { pointer: p.cohortIdPath, role: 'id' },
    { pointer: p.cohortNamePath, role: 'id' }
  ]
  if (p.contextKindPath) out.push({ pointer: p.contextKindPath, role: 'contextKind' })
  if (p.cohortUrlPath) out.push({ pointer: p.cohortUrlPath, role: 'url' })
  if (p.arrayInclusion) out.push({ pointer: p.arrayInclusion.path, role: 'action' })
  const arrays = [p.memberArrayPath, p.addMemberArrayPath, p.removeMemberArrayPath].filter((a): a is string => a !== undefined)
  for (const array of arrays) {
    out.push({ pointer: array, role: 'array' })
    out.push({ pointer: `${array}/0${m.memberIdPath}`, role: 'id' })
    if (m.booleanMembershipPath) out.push({ pointer: `${array}/0${m.booleanMembershipPath}`, role: 'membership' })
    if (m.cohortIdPath) out.push({ pointer: `${array}/0${m.cohortIdPath}`, role: 'id' })
    if (m.cohortNamePath) out.push({ pointer: `${array}/0${m.cohortNamePath}`, role: 'id' })
  }
  // Pointers shared by a request-level and a member-level role are checked once.
  return out.filter((a, i) => out.findIndex((b) => b.pointer === a.pointer) === i)
}
