import { compilePointer, type CompiledPointer } from '../pointer'
import { compileResponseTemplate, type ResponseTemplate } from '../response-body'
import type { SyncedSegmentCapability } from './types'
import { checkManifest, type RuleProblem } from './validate'

/** How the members of a request say whether they are added or removed. */
export type MembershipMode =
  /** One array; each member carries `true`/`false` at `booleanMembership`. */
  | { kind: 'boolean'; memberArray: CompiledPointer; booleanMembership: CompiledPointer }
  /** One array; a single request value tested against `matcher` adds or removes them all. */
  | { kind: 'inclusion'; memberArray: CompiledPointer; action: CompiledPointer; matcher: RegExp }
  /** Two arrays, either of which may be absent. */
  | { kind: 'addRemove'; addArray: CompiledPointer; removeArray: CompiledPointer }

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
  /** Absent when the integration has no `jsonResponseBody`. */
  responseTemplate?: ResponseTemplate
}

/**
 * Validates a parsed manifest and compiles it: everything a request needs is prepared here, once.
 * Returns the problems instead when the manifest breaks a rule.
 */
export function compileManifest(
  key: string,
  manifestPath: string,
  manifest: unknown
): { integration: CompiledIntegration; problems: [] } | { integration?: undefined; problems: RuleProblem[] } {
  const { problems, capability } = checkManifest(manifest)
  if (capability === undefined) return { problems }

  const p = capability.requestParser
  const pointer = (field: string, value: string): CompiledPointer => {
    try {
      return compilePointer(value)
    } catch (err) {
      problems.push({ rule: 'json-pointer', message: `${field}: ${(err as Error).message}` })
      return compilePointer('')
    }
  }
  const optional = (field: string, value: string | undefined) => (value === undefined ? undefined : pointer(field, value))

  const parser: Omit<CompiledParser, 'mode'> = {
    environmentId: pointer('requestParser.environmentIdPath', p.environmentIdPath),
    contextKind: optional('requestParser.contextKindPath', p.contextKindPath),
    cohortId: pointer('requestParser.cohortIdPath', p.cohortIdPath),
    cohortName: pointer('requestParser.cohortNamePath', p.cohortNamePath),
    cohortUrl: optional('requestParser.cohortUrlPath', p.cohortUrlPath),
    member: {
      id: pointer('requestParser.memberArrayParser.memberIdPath', p.memberArrayParser.memberIdPath),
      cohortId: optional('requestParser.memberArrayParser.cohortIdPath', p.memberArrayParser.cohortIdPath),
      cohortName: optional('requestParser.memberArrayParser.cohortNamePath', p.memberArrayParser.cohortNamePath)
    }
  }

  // checkManifest guarantees exactly one of the three shapes below.
  let mode: MembershipMode
  if (p.addMemberArrayPath !== undefined && p.removeMemberArrayPath !== undefined) {
    mode = {
      kind: 'addRemove',
      addArray: pointer('requestParser.addMemberArrayPath', p.addMemberArrayPath),
      removeArray: pointer('requestParser.removeMemberArrayPath', p.removeMemberArrayPath)
    }
  } else if (p.arrayInclusion !== undefined) {
    mode = {
      kind: 'inclusion',
      memberArray: pointer('requestParser.memberArrayPath', p.memberArrayPath as string),
      action: pointer('requestParser.arrayInclusion.path', p.arrayInclusion.path),
      matcher: compileMatcher(p.arrayInclusion.matcher, problems)
    }
  } else {
    mode = {
      kind: 'boolean',
      memberArray: pointer('requestParser.memberArrayPath', p.memberArrayPath as string),
      booleanMembership: pointer(
        'requestParser.memberArrayParser.booleanMembershipPath',
        p.memberArrayParser.booleanMembershipPath as string
      )
    }
  }

  let responseTemplate: ResponseTemplate | undefined
  if (capability.jsonResponseBody !== undefined) {
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
  const name = (manifest as { name?: unknown }).name
  return {
    integration: {
      key,
      name: typeof name === 'string' && name !== '' ? name : key,
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
    problems.push({ rule: 'matcher-regex', message: `requestParser.arrayInclusion.matcher: ${(err as Error).message}` })
    return /$^/
  }
}
