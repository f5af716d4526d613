/**
 * The receiver's configuration (§B6): projects and environments, access tokens with their scopes,
 * an optional per-token rate limit and the body limit. Either read from a JSON file (validated with
 * ajv, errors naming the field) or, without a file, the development set-up whose credentials are
 * created once in the data directory and reused on later starts.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Ajv, { type ErrorObject } from 'ajv'
import { DEFAULT_REDIS_PREFIX } from '../store/types'

/** The role actions the receiver checks; `*` in a token grants all of them. */
export const ACTIONS = ['createSegment', 'updateIncluded', 'viewProject', 'deleteSegment'] as const
export type Action = (typeof ACTIONS)[number]

export interface EnvironmentConfig {
  key: string
  clientSideId: string
  /** Redis key prefix of this environment's big-segment data (Redis store only). */
  redisPrefix?: string
}

export interface ProjectConfig {
  key: string
  environments: EnvironmentConfig[]
}

export interface TokenConfig {
  name: string
  token: string
  actions: Action[] | '*'
  /** `project/environment` references, or `*` for every environment. */
  environments: string[] | '*'
}

export interface RateLimitConfig {
  /** Requests allowed per token in one window. */
  max: number
  windowMs: number
}

export interface ReceiverConfig {
  projects: ProjectConfig[]
  tokens: TokenConfig[]
  rateLimit?: RateLimitConfig
  bodyLimitBytes: number
  /** Origin used in `segmentUrl`; defaults to the origin the request was addressed to. */
  publicUrl?: string
  /** The sync history (§F): on unless `enabled` is false; `retention` records per environment. */
  history?: { enabled?: boolean; retention?: number }
  /** `GET /metrics` (§F): on unless `enabled` is false. */
  metrics?: { enabled?: boolean }
}

/** What the development set-up writes to `<dataDir>/credentials.json`. */
export interface DevCredentials {
  projectKey: string
  environmentKey: string
  clientSideId: string
  token: string
}

export const DEFAULT_BODY_LIMIT_BYTES = 10 * 1024 * 1024
export const CREDENTIALS_FILE = 'credentials.json'

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

const KEY_PATTERN = '^[A-Za-z0-9._-]+$'

// `x-message` replaces ajv's generic wording where it would not tell the user what to write.
const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['projects', 'tokens'],
  properties: {
    $schema: { type: 'string' },
    projects: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'environments'],
        properties: {
          key: { type: 'string', pattern: KEY_PATTERN, 'x-message': 'must be a key of letters, digits, ".", "_" or "-"' },
          environments: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['key', 'clientSideId'],
              properties: {
                key: { type: 'string', pattern: KEY_PATTERN, 'x-message': 'must be a key of letters, digits, ".", "_" or "-"' },
                clientSideId: {
                  type: 'string',
                  pattern: KEY_PATTERN,
                  'x-message': 'must be an ID of letters, digits, ".", "_" or "-"'
                },
                redisPrefix: { type: 'string', minLength: 1 }
              }
            }
          }
        }
      }
    },
    tokens: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'token', 'actions', 'environments'],
        properties: {
          name: { type: 'string', minLength: 1 },
          token: {
            type: 'string',
            pattern: '^\\S{8,}$',
            'x-message': 'must be at least 8 characters without spaces'
          },
          actions: {
            type: ['string', 'array'],
            pattern: '^\\*$',
            minItems: 1,
            uniqueItems: true,
            items: { enum: ACTIONS },
            'x-message': `must be "*" or a non-empty list of ${ACTIONS.join(', ')}`
          },
          environments: {
            type: ['string', 'array'],
            pattern: '^\\*$',
            minItems: 1,
            uniqueItems: true,
            items: {
              type: 'string',
              pattern: '^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$',
              'x-message': 'must be "project/environment"'
            },
            'x-message': 'must be "*" or a non-empty list of "project/environment"'
          }
        }
      }
    },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      required: ['max', 'windowMs'],
      properties: {
        max: { type: 'integer', minimum: 1 },
        windowMs: { type: 'integer', minimum: 1 }
      }
    },
    bodyLimitBytes: { type: 'integer', minimum: 1 },
    publicUrl: { type: 'string', pattern: '^https?://', 'x-message': 'must be an http(s) URL' },
    history: {
      type: 'object',
      additionalProperties: false,
      properties: { enabled: { type: 'boolean' }, retention: { type: 'integer', minimum: 1 } }
    },
    metrics: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' } } }
  }
}

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, verbose: true })
ajv.addVocabulary(['x-message'])
const validateShape = ajv.compile(configSchema)

/** `/tokens/0/actions` → `tokens[0].actions`: the way a user reads the file. */
function fieldName(instancePath: string): string {
  let name = ''
  for (const segment of instancePath.split('/').slice(1)) {
    const unescaped = segment.replace(/~1/g, '/').replace(/~0/g, '~')
    name += /^\d+$/.test(unescaped) ? `[${unescaped}]` : name === '' ? unescaped : `.${unescaped}`
  }
  return name === '' ? '(top level)' : name
}

function describe(error: ErrorObject): string {
  const custom = (error.parentSchema as Record<string, unknown> | undefined)?.['x-message']
  switch (error.keyword) {
    case 'required':
      return `${fieldName(error.instancePath)}: missing required field "${String(error.params.missingProperty)}"`
    case 'additionalProperties':
      return `${fieldName(error.instancePath)}: unknown field "${String(error.params.additionalProperty)}"`
    case 'enum':
      return `${fieldName(error.instancePath)}: must be one of ${(error.params.allowedValues as unknown[]).join(', ')}, got ${JSON.stringify(error.data)}`
    default:
      return `${fieldName(error.instancePath)}: ${typeof custom === 'string' ? custom : (error.message ?? 'is invalid')}`
  }
}

/** Checks ajv cannot express: uniqueness and references between sections. */
function semanticProblems(config: ReceiverConfig): string[] {
  const problems: string[] = []
  const projectKeys = new Set<string>()
  const environmentRefs = new Set<string>()
  const clientSideIds = new Set<string>()
  config.projects.forEach((project, p) => {
    if (projectKeys.has(project.key)) problems.push(`projects[${p}].key: duplicate project key "${project.key}"`)
    projectKeys.add(project.key)
    const envKeys = new Set<string>()
    project.environments.forEach((env, e) => {
      const field = `projects[${p}].environments[${e}]`
      if (envKeys.has(env.key)) problems.push(`${field}.key: duplicate environment key "${env.key}" in project "${project.key}"`)
      envKeys.add(env.key)
      environmentRefs.add(`${project.key}/${env.key}`)
      if (clientSideIds.has(env.clientSideId)) problems.push(`${field}.clientSideId: duplicate client-side ID "${env.clientSideId}"`)
      clientSideIds.add(env.clientSideId)
    })
  })
  const tokenNames = new Set<string>()
  const tokenValues = new Set<string>()
  config.tokens.forEach((token, t) => {
    if (tokenNames.has(token.name)) problems.push(`tokens[${t}].name: duplicate token name "${token.name}"`)
    tokenNames.add(token.name)
    // Never echo a token value, not even in an error.
    if (tokenValues.has(token.token)) problems.push(`tokens[${t}].token: the same token is configured twice`)
    tokenValues.add(token.token)
    if (token.environments !== '*') {
      token.environments.forEach((ref, i) => {
        if (!environmentRefs.has(ref)) problems.push(`tokens[${t}].environments[${i}]: unknown environment "${ref}"`)
      })
    }
  })
  if (config.publicUrl !== undefined && !URL.canParse(config.publicUrl)) problems.push('publicUrl: must be an http(s) URL')
  return problems
}

/** Validates a parsed configuration document; `source` names it in errors. */
export function parseConfig(document: unknown, source = 'config'): ReceiverConfig {
  if (!validateShape(document)) {
    const problems = (validateShape.errors ?? []).map(describe)
    throw new ConfigError(`${source}: invalid configuration:\n  ${[...new Set(problems)].join('\n  ')}`)
  }
  const config = { ...(document as Omit<ReceiverConfig, 'bodyLimitBytes'> & { bodyLimitBytes?: number }) }
  const result: ReceiverConfig = { ...config, bodyLimitBytes: config.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES }
  if (result.publicUrl !== undefined) result.publicUrl = result.publicUrl.replace(/\/+$/, '')
  const problems = semanticProblems(result)
  if (problems.length > 0) throw new ConfigError(`${source}: invalid configuration:\n  ${problems.join('\n  ')}`)
  return result
}

export { DEFAULT_REDIS_PREFIX }

/**
 * For the Redis store: every environment needs a prefix of its own. LaunchDarkly's SDKs read one
 * environment's big segments per prefix, so two environments on one prefix would share their
 * `big_segment_include` sets (and a segment key used in both would mix their members).
 */
export function checkRedisPrefixes(config: ReceiverConfig, source = 'config'): void {
  const owners = new Map<string, string>()
  const problems: string[] = []
  for (const project of config.projects) {
    for (const env of project.environments) {
      const ref = `${project.key}/${env.key}`
      const prefix = env.redisPrefix ?? DEFAULT_REDIS_PREFIX
      const owner = owners.get(prefix)
      if (owner === undefined) owners.set(prefix, ref)
      else {
        const note = prefix === DEFAULT_REDIS_PREFIX ? ' (the default when "redisPrefix" is not set)' : ''
        problems.push(`environments "${owner}" and "${ref}" both use the Redis prefix "${prefix}"${note}`)
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `${source}: invalid configuration for the Redis store:\n  ${problems.join('\n  ')}\n` +
        '  LaunchDarkly reads one environment\'s big segments per prefix: give each environment its own "redisPrefix"'
    )
  }
}

export function loadConfigFile(path: string): ReceiverConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the configuration: ${(error as Error).message}`)
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON: ${(error as Error).message}`)
  }
  return parseConfig(document, path)
}

function isDevCredentials(value: unknown): value is DevCredentials {
  const v = value as Record<string, unknown> | null
  return (
    typeof v === 'object' &&
    v !== null &&
    ['projectKey', 'environmentKey', 'clientSideId', 'token'].every((k) => typeof v[k] === 'string' && v[k] !== '')
  )
}

function readCredentials(path: string): DevCredentials | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`${path}: cannot read the development credentials: ${(error as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ConfigError(`${path}: not valid JSON; delete it to create new development credentials`)
  }
  if (!isDevCredentials(value)) {
    throw new ConfigError(
      `${path}: needs projectKey, environmentKey, clientSideId and token; delete it to create new development credentials`
    )
  }
  // Whoever created or copied it, the token file stays private to its owner.
  chmodSync(path, 0o600)
  return value
}

export function devConfig(credentials: DevCredentials): ReceiverConfig {
  return {
    projects: [
      {
        key: credentials.projectKey,
        environments: [{ key: credentials.environmentKey, clientSideId: credentials.clientSideId }]
      }
    ],
    tokens: [{ name: 'development', token: credentials.token, actions: '*', environments: '*' }],
    bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES
  }
}

/**
 * The development set-up: project `default`, environment `production`, a random client-side ID
 * and writer token, created once in `<dataDir>/credentials.json` (mode 0600) and reused after.
 */
export function devSetup(dataDir: string): { config: ReceiverConfig; credentials: DevCredentials; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, CREDENTIALS_FILE)
  const existing = readCredentials(path)
  if (existing) return { config: devConfig(existing), credentials: existing, created: false }
  const credentials: DevCredentials = {
    projectKey: 'default',
    environmentKey: 'production',
    // LaunchDarkly's client-side IDs are 24 hex digits; its API tokens start with `api-`.
    clientSideId: randomBytes(12).toString('hex'),
    token: `api-${randomUUID()}`
  }
  // Two receivers starting at once on one directory must end up with one token. The file is written
  // whole under a name of its own, then linked into place: link() refuses to replace an existing
  // file (the other receiver won; read its token), and nobody ever reads a half-written file, as
  // they could between the create and the write of a plain exclusive open.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  try {
    linkSync(temporary, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const winner = readCredentials(path)
    if (winner) return { config: devConfig(winner), credentials: winner, created: false }
    throw error
  } finally {
    rmSync(temporary, { force: true })
  }
  return { config: devConfig(credentials), credentials, created: true }
}
