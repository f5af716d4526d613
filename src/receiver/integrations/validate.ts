/**
 * Manifest checks (§B1, §B8), in two layers:
 * - `checkCapability`: the `syncedSegment` capability against its part of LaunchDarkly's schema and
 *   the capability rules. A receiver refuses to start on these (they decide how requests parse).
 * - `checkManifestForCI`: the rest of what LaunchDarkly's integration-framework CI rejects — the
 *   whole manifest against `manifest.schema.json`, icons that exist, an overview ending in a period.
 *   `integrations validate` reports these too; a receiver serves such a manifest all the same.
 *
 * As LaunchDarkly's parser does, an optional pointer set to "" means "not set". The rules that
 * LaunchDarkly's CI has are applied as its CI applies them (a rule triggers on a non-empty value
 * and asks whether the other field is present at all); the receiver's own rules (a member array is
 * needed; boolean mode needs `booleanMembershipPath`) look at what the parser will actually use.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import manifestSchema from './manifest.schema.json'
import type { RequestParser, SyncedSegmentCapability } from './types'

/** One broken rule of one manifest. `rule` is a stable name a test or a user can grep for. */
export interface IntegrationProblem {
  file: string
  rule: IntegrationRule
  message: string
}

export type IntegrationRule =
  | 'integrations-dir'
  | 'manifest-file'
  | 'manifest-capability'
  | 'integration-key'
  | 'duplicate-key'
  | 'schema'
  | 'manifest-schema'
  | 'icon-file'
  | 'overview-period'
  | 'add-remove-pair'
  | 'member-array-exclusive'
  | 'array-inclusion-needs-member-array'
  | 'array-inclusion-exclusive'
  | 'boolean-membership-needs-member-array'
  | 'boolean-membership-required'
  | 'member-array-required'
  | 'json-pointer'
  | 'matcher-regex'
  | 'response-template'
  | 'response-template-variable'

/** A problem before it is tied to a file. */
export type RuleProblem = Omit<IntegrationProblem, 'file'>

const CAPABILITY_PATH = '/capabilities/syncedSegment'

/**
 * LaunchDarkly's bundled schema has no `$ref`: its nested `$id`s are labels, several of them
 * repeated, which ajv 8 refuses as ambiguous (ajv 6, which LaunchDarkly's CI runs, lets them pass).
 * Dropping them changes nothing that is validated.
 */
function withoutNestedIds(schema: unknown, root = true): unknown {
  if (Array.isArray(schema)) return schema.map((item) => withoutNestedIds(item, false))
  if (!isObject(schema)) return schema
  const copy: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$id' && !root) continue
    copy[key] = withoutNestedIds(value, false)
  }
  return copy
}

function newAjv(): Ajv {
  // strict: false — the schema carries keywords ajv does not know (e.g. a "#id" typo, "examples").
  const ajv = new Ajv({ allErrors: true, strict: false })
  addFormats(ajv, ['email'])
  return ajv
}

// The capability's own schema is small: compiled once at module load, as every start needs it.
const validateCapability = newAjv().compile<SyncedSegmentCapability>({
  $schema: manifestSchema.$schema,
  ...(withoutNestedIds(manifestSchema.properties.capabilities.properties.syncedSegment) as object)
})

// The whole schema takes most of a second to compile: only `integrations validate` needs it.
let validateWholeManifest: ValidateFunction | undefined

/** Optional values that LaunchDarkly's parser treats as not set when empty. */
export function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== ''
}

/**
 * The capability against its schema and the capability rules, all at once: when the schema fails,
 * the rules still run on the values of the right type (`capability` is then that lenient view, so
 * pointers, matcher and template can be checked too, and `valid` is false).
 */
export function checkCapability(raw: unknown): {
  problems: RuleProblem[]
  capability?: SyncedSegmentCapability
  valid: boolean
} {
  const valid = validateCapability(raw)
  const problems = valid ? [] : schemaProblems(validateCapability.errors ?? [], 'schema', CAPABILITY_PATH)
  const capability = valid ? raw : lenientCapability(raw)
  if (capability !== undefined) problems.push(...checkRules(capability.requestParser))
  return { problems, capability, valid }
}

/** The capability with only its string values (the schema has reported the rest), or undefined without a requestParser object. */
function lenientCapability(raw: unknown): SyncedSegmentCapability | undefined {
  if (!isObject(raw) || !isObject(raw.requestParser)) return undefined
  const strings = (value: unknown): Record<string, string> =>
    isObject(value)
      ? Object.fromEntries(
          Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string')
        )
      : {}
  const p = raw.requestParser
  const requestParser = {
    ...strings(p),
    memberArrayParser: strings(p.memberArrayParser)
  } as unknown as RequestParser
  if (isObject(p.arrayInclusion))
    requestParser.arrayInclusion = strings(p.arrayInclusion) as unknown as RequestParser['arrayInclusion']
  const capability: SyncedSegmentCapability = { requestParser }
  if (typeof raw.jsonResponseBody === 'string') capability.jsonResponseBody = raw.jsonResponseBody
  return capability
}

/**
 * What LaunchDarkly's integration-framework CI rejects beyond the capability rules, for a manifest
 * read from `integrationDir`: schema violations anywhere in it, missing icon files, an overview
 * that does not end in a period.
 */
export function checkManifestForCI(manifest: unknown, integrationDir: string): RuleProblem[] {
  validateWholeManifest ??= newAjv().compile(withoutNestedIds(manifestSchema) as object)
  // The capability's own schema problems are reported by checkCapability: not twice.
  const errors = validateWholeManifest(manifest)
    ? []
    : (validateWholeManifest.errors ?? []).filter((e) => !e.instancePath.startsWith(CAPABILITY_PATH))
  const problems = schemaProblems(errors, 'manifest-schema', '')
  if (!isObject(manifest)) return problems
  const icons = isObject(manifest.icons) ? manifest.icons : {}
  for (const kind of ['square', 'horizontal']) {
    const icon = icons[kind]
    if (typeof icon === 'string' && !existsSync(join(integrationDir, icon))) {
      problems.push({
        rule: 'icon-file',
        message: `icons.${kind}: ${icon} does not exist in ${integrationDir}`
      })
    }
  }
  const overview = typeof manifest.overview === 'string' ? manifest.overview : ''
  if (!overview.endsWith('.')) {
    problems.push({
      rule: 'overview-period',
      message: `overview must end in a period, got ${JSON.stringify(overview)}`
    })
  }
  return problems
}

function checkRules(p: RequestParser): RuleProblem[] {
  const problems: RuleProblem[] = []
  const rule = (name: IntegrationRule, message: string): void => {
    problems.push({ rule: name, message: `requestParser.${message}` })
  }
  const add = isSet(p.addMemberArrayPath)
  const remove = isSet(p.removeMemberArrayPath)
  const memberArray = isSet(p.memberArrayPath)
  const booleanMembership = isSet(p.memberArrayParser.booleanMembershipPath)
  const inclusion = p.arrayInclusion !== undefined

  // LaunchDarkly's CI rules.
  if (add && p.removeMemberArrayPath === undefined)
    rule('add-remove-pair', 'addMemberArrayPath needs removeMemberArrayPath')
  if (remove && p.addMemberArrayPath === undefined)
    rule('add-remove-pair', 'removeMemberArrayPath needs addMemberArrayPath')
  if ((add || remove) && p.memberArrayPath !== undefined) {
    rule(
      'member-array-exclusive',
      'memberArrayPath cannot be combined with addMemberArrayPath/removeMemberArrayPath'
    )
  }
  if ((add || remove) && inclusion) {
    rule(
      'array-inclusion-exclusive',
      'arrayInclusion cannot be combined with addMemberArrayPath/removeMemberArrayPath'
    )
  }
  if (inclusion && !memberArray) {
    rule(
      'array-inclusion-needs-member-array',
      `arrayInclusion needs memberArrayPath${p.memberArrayPath === '' ? ' (it is "", which means not set)' : ''}`
    )
  }
  if (booleanMembership && p.memberArrayPath === undefined) {
    rule(
      'boolean-membership-needs-member-array',
      'memberArrayParser.booleanMembershipPath goes only with memberArrayPath'
    )
  }

  // The receiver's: rules without which no request could parse.
  if (!memberArray && !add && !remove) {
    rule(
      'member-array-required',
      'needs memberArrayPath, or addMemberArrayPath and removeMemberArrayPath (non-empty)'
    )
  } else if (memberArray && !inclusion && !add && !remove && !booleanMembership) {
    rule(
      'boolean-membership-required',
      'memberArrayParser.booleanMembershipPath is required with memberArrayPath when arrayInclusion is not used'
    )
  }
  return problems
}

function schemaProblems(
  errors: ErrorObject[],
  rule: 'schema' | 'manifest-schema',
  prefix: string
): RuleProblem[] {
  return (
    errors
      // ajv reports an unknown property twice (the enum inside propertyNames, then propertyNames).
      .filter((e) => !e.schemaPath.endsWith('/propertyNames/enum'))
      .map((e) => {
        const where = `${prefix}${e.instancePath}` || '(manifest)'
        const message =
          e.keyword === 'propertyNames'
            ? `unknown property ${JSON.stringify((e.params as { propertyName: string }).propertyName)}`
            : (e.message ?? e.keyword)
        return { rule, message: `${where}: ${message}` }
      })
  )
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
