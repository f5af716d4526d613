import { compilePointer, type CompiledPointer } from '../pointer'
import { compileResponseTemplate, type ResponseTemplate } from '../response-body'
import type { SyncedSegmentCapability } from './types'
import { checkCapability, isObject, isSet, type RuleProblem } from './validate'

/** How the members of a request say whether they are added or removed. */
export type MembershipMode =
  /** One array; each member carries `true`/`false` at `booleanMembership`. */
  | { kind: 'boolean'; memberArray: CompiledPointer; booleanMembership: CompiledPointer }
  /** One array; a single request value tested against `matcher` adds or removes them all. */
  | { kind: 'inclusion'; memberArray: CompiledPointer; action: CompiledPointer; matcher: RegExp }
  /** Two arrays, either of which may be absent from a request; a manifest may even name only one. */
  | { kind: 'addRemove'; addArray?: CompiledPointer; removeArray?: CompiledPointer }

/** A `requestParser` with every pointer and the matcher compiled. */
export interface CompiledParser {
  environmentId: CompiledPointer
  contextKind?: CompiledPointer
  cohortId: CompiledPointer
  cohortName: CompiledPointer
  cohortUrl?: CompiledPointer
  mode: MembershipMode
  /** Relative to each member. */
  member: {
    id: CompiledPointer
    cohortId?: CompiledPointer
    cohortName?: CompiledPointer
  }
}

export interface CompiledIntegration {
  /** Directory name, lower-cased. */
  key: string
  /** The manifest's `name`, else the key. */
  name: string
  manifestPath: string
  capability: SyncedSegmentCapability
  parser: CompiledParser
  /** Absent when the integration has no `jsonResponseBody` (or an empty one). */
  responseTemplate?: ResponseTemplate
}

/** The manifest's `capabilities.syncedSegment`, or undefined when it has none (§B8: skipped, not an error). */
export function syncedSegmentOf(manifest: unknown): unknown {
  return isObject(manifest) && isObject(manifest.capabilities)
    ? manifest.capabilities.syncedSegment
    : undefined
}

/** The manifest's `name`, else the integration key. */
export function manifestName(manifest: unknown, key: string): string {
  const name = isObject(manifest) ? manifest.name : undefined
  return typeof name === 'string' && name !== '' ? name : key
}

/**
 * Validates a parsed manifest's capability and compiles it: everything a request needs is prepared
 * here, once. Returns the problems instead when the capability breaks a rule; pointers, matcher and
 * template are checked even when a structural rule fails, so one run reports all that is wrong.
 * Optional pointers and `jsonResponseBody` set to "" are not set, as in LaunchDarkly's parser.
 */
export function compileManifest(
  key: string,
  manifestPath: string,
  manifest: unknown
): { integration: CompiledIntegration; problems: [] } | { integration?: undefined; problems: RuleProblem[] } {
  const raw = syncedSegmentOf(manifest)
  if (raw === undefined) {
    return {
      problems: [
        { rule: 'manifest-capability', message: 'the manifest has no /capabilities/syncedSegment object' }
      ]
    }
  }
  // Even when the schema fails, whatever pointers, matcher and template there are get checked.
  const { problems, capability } = checkCapability(raw)
  if (capability === undefined) return { problems }

  const p = capability.requestParser
  const pointer = (field: string, value: string | undefined): CompiledPointer => {
    // Missing only when the schema failed, which has said so.
    if (value === undefined) return compilePointer('')
    try {
      return compilePointer(value)
    } catch (err) {
      problems.push({ rule: 'json-pointer', message: `${field}: ${(err as Error).message}` })
      return compilePointer('')
    }
  }
  const optional = (field: string, value: string | undefined) =>
    isSet(value) ? pointer(field, value) : undefined

  const parser: Omit<CompiledParser, 'mode'> = {
    environmentId: pointer('requestParser.environmentIdPath', p.environmentIdPath),
    contextKind: optional('requestParser.contextKindPath', p.contextKindPath),
    cohortId: pointer('requestParser.cohortIdPath', p.cohortIdPath),
    cohortName: pointer('requestParser.cohortNamePath', p.cohortNamePath),
    cohortUrl: optional('requestParser.cohortUrlPath', p.cohortUrlPath),
    member: {
      id: pointer('requestParser.memberArrayParser.memberIdPath', p.memberArrayParser.memberIdPath),
      cohortId: optional('requestParser.memberArrayParser.cohortIdPath', p.memberArrayParser.cohortIdPath),
      cohortName: optional(
        'requestParser.memberArrayParser.cohortNamePath',
        p.memberArrayParser.cohortNamePath
      )
    }
  }

  const memberArray = optional('requestParser.memberArrayPath', p.memberArrayPath)
  const addArray = optional('requestParser.addMemberArrayPath', p.addMemberArrayPath)
  const removeArray = optional('requestParser.removeMemberArrayPath', p.removeMemberArrayPath)
  const booleanMembership = optional(
    'requestParser.memberArrayParser.booleanMembershipPath',
    p.memberArrayParser.booleanMembershipPath
  )
  // Required inside arrayInclusion: "" is the whole body (which is never the string a matcher needs).
  const action =
    p.arrayInclusion === undefined
      ? undefined
      : pointer('requestParser.arrayInclusion.path', p.arrayInclusion.path)
  const matcher =
    typeof p.arrayInclusion?.matcher === 'string'
      ? compileMatcher(p.arrayInclusion.matcher, problems)
      : undefined

  let responseTemplate: ResponseTemplate | undefined
  if (isSet(capability.jsonResponseBody)) {
    try {
      responseTemplate = compileResponseTemplate(capability.jsonResponseBody)
    } catch (err) {
      problems.push({
        rule: 'response-template',
        message: `jsonResponseBody is not a valid Handlebars template: ${(err as Error).message}`
      })
    }
  }

  if (problems.length > 0) return { problems }

  // With no problem, the rules guarantee exactly one of these shapes.
  let mode: MembershipMode
  if (addArray !== undefined || removeArray !== undefined) {
    mode = { kind: 'addRemove', addArray, removeArray }
  } else if (memberArray !== undefined && action !== undefined && matcher !== undefined) {
    mode = { kind: 'inclusion', memberArray, action, matcher }
  } else if (memberArray !== undefined && booleanMembership !== undefined) {
    mode = { kind: 'boolean', memberArray, booleanMembership }
  } else {
    throw new Error(`${manifestPath}: no membership mode, although the manifest passed validation`)
  }
  return {
    integration: {
      key,
      name: manifestName(manifest, key),
      manifestPath,
      capability,
      parser: { ...parser, mode },
      responseTemplate
    },
    problems: []
  }
}

function compileMatcher(matcher: string, problems: RuleProblem[]): RegExp {
  try {
    // No flags: a flagless RegExp keeps no lastIndex state, so one instance serves every request.
    return new RegExp(matcher)
  } catch (err) {
    problems.push({
      rule: 'matcher-regex',
      message: `requestParser.arrayInclusion.matcher: ${(err as Error).message}`
    })
    return /$^/
  }
}
