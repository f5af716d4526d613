import Ajv, { type ErrorObject } from 'ajv'
import capabilitySchema from './syncedSegment.schema.json'
import type { SyncedSegmentCapability } from './types'

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
  | 'add-remove-pair'
  | 'member-array-exclusive'
  | 'array-inclusion-needs-member-array'
  | 'boolean-membership-required'
  | 'member-array-required'
  | 'json-pointer'
  | 'matcher-regex'
  | 'response-template'

/** A problem before it is tied to a file. */
export type RuleProblem = Omit<IntegrationProblem, 'file'>

const CAPABILITY_PATH = '/capabilities/syncedSegment'

// The schema file's root only holds the definition; compile that definition once, at module load.
const validateSchema = new Ajv({ allErrors: true }).compile<SyncedSegmentCapability>({
  $schema: capabilitySchema.$schema,
  ...capabilitySchema.syncedSegment
})

/**
 * Checks a parsed manifest against the capability schema and the §B1 rules that the schema
 * cannot express. Pointers, the matcher and the template are checked when they are compiled.
 * Returns the capability whenever it matches the schema, so those can be checked as well.
 */
export function checkManifest(manifest: unknown): { problems: RuleProblem[]; capability?: SyncedSegmentCapability } {
  const capability = isObject(manifest) && isObject(manifest.capabilities) ? manifest.capabilities.syncedSegment : undefined
  if (capability === undefined) {
    return {
      problems: [{ rule: 'manifest-capability', message: `the manifest has no ${CAPABILITY_PATH} object` }]
    }
  }
  if (!validateSchema(capability)) {
    return { problems: schemaProblems(validateSchema.errors ?? []) }
  }
  return { problems: checkRules(capability), capability }
}

function checkRules({ requestParser: p }: SyncedSegmentCapability): RuleProblem[] {
  const problems: RuleProblem[] = []
  const add = p.addMemberArrayPath !== undefined
  const remove = p.removeMemberArrayPath !== undefined
  const member = p.memberArrayPath !== undefined
  if (add !== remove) {
    problems.push({
      rule: 'add-remove-pair',
      message: `requestParser.${add ? 'addMemberArrayPath' : 'removeMemberArrayPath'} is set without requestParser.${add ? 'removeMemberArrayPath' : 'addMemberArrayPath'}; the two come together`
    })
  }
  if (member && (add || remove)) {
    problems.push({
      rule: 'member-array-exclusive',
      message: 'requestParser.memberArrayPath cannot be combined with addMemberArrayPath/removeMemberArrayPath'
    })
  }
  if (p.arrayInclusion !== undefined && !member) {
    problems.push({
      rule: 'array-inclusion-needs-member-array',
      message: 'requestParser.arrayInclusion needs requestParser.memberArrayPath'
    })
  }
  if (!member && !add && !remove) {
    problems.push({
      rule: 'member-array-required',
      message: 'requestParser needs memberArrayPath, or addMemberArrayPath and removeMemberArrayPath'
    })
  } else if (!add && !remove && p.arrayInclusion === undefined && p.memberArrayParser.booleanMembershipPath === undefined) {
    problems.push({
      rule: 'boolean-membership-required',
      message:
        'requestParser.memberArrayParser.booleanMembershipPath is required when neither add/remove arrays nor arrayInclusion are used'
    })
  }
  return problems
}

function schemaProblems(errors: ErrorObject[]): RuleProblem[] {
  return (
    errors
      // ajv reports an unknown property twice (the enum inside propertyNames, then propertyNames).
      .filter((e) => !e.schemaPath.endsWith('/propertyNames/enum'))
      .map((e) => ({
        rule: 'schema' as const,
        message:
          e.keyword === 'propertyNames'
            ? `${CAPABILITY_PATH}${e.instancePath}: unknown property ${JSON.stringify((e.params as { propertyName: string }).propertyName)}`
            : `${CAPABILITY_PATH}${e.instancePath}: ${e.message ?? e.keyword}`
      }))
  )
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
