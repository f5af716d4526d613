/**
 * Integration manifests (§B1, §B8): read from `<dir>/<integrationKey>/manifest.json` — LaunchDarkly's
 * integration-framework layout, so its own `integrations/` directory loads as it is — validated and
 * compiled once at start. Nothing here runs per request.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { RESPONSE_VARIABLES, unknownTemplateVariables } from '../response-body'
import { compileManifest, manifestName, syncedSegmentOf, type CompiledIntegration } from './compile'
import { checkManifestForCI, isObject, type IntegrationProblem, type RuleProblem } from './validate'

export type { CompiledIntegration, CompiledParser, MembershipMode } from './compile'
export type { IntegrationProblem, IntegrationRule } from './validate'
export { RESPONSE_VARIABLES } from '../response-body'
export type * from './types'

/** The repo's `integrations/`: three levels above both src/receiver/integrations and dist/receiver/integrations. */
export const BUNDLED_INTEGRATIONS_DIR = resolve(__dirname, '../../../integrations')

// Integration keys become part of segment keys (§B4), so they stay within a segment key's alphabet.
const INTEGRATION_KEY = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** Thrown by `loadIntegrations`; the message names each manifest file and broken rule. */
export class IntegrationError extends Error {
  constructor(readonly problems: IntegrationProblem[]) {
    super(problems.map((p) => `${p.file}: [${p.rule}] ${p.message}`).join('\n'))
    this.name = 'IntegrationError'
  }
}

/** An integration whose manifest has no `capabilities.syncedSegment` (most of LaunchDarkly's directory). */
export interface SkippedIntegration {
  key: string
  /** The manifest's `name`, else the key. */
  name: string
  manifestPath: string
}

/**
 * The integrations a receiver serves, keyed by lower-cased integration key, with those it skipped
 * for want of the capability: a sync to one of those is a 400, not a 404 (§B8).
 */
export class IntegrationDirectory extends Map<string, CompiledIntegration> {
  readonly skipped = new Map<string, SkippedIntegration>()
}

/** What `integrations validate DIR` reports. */
export interface ValidationReport {
  /** Everything LaunchDarkly's CI or the receiver rejects, manifest by manifest, all at once. */
  problems: IntegrationProblem[]
  /** Keys of the integrations with a valid syncedSegment capability. */
  valid: string[]
  /** Keys of the integrations without one. */
  skipped: string[]
}

/**
 * Loads every integration of `dirs`; a later dir adds to or replaces the earlier ones (a
 * replacement without the capability turns the key into a skipped one). Throws `IntegrationError`
 * listing every problem when any capability is invalid, so a broken manifest stops the start
 * instead of failing requests later. Problems LaunchDarkly's CI has with the rest of a manifest do
 * not stop it (see `validateIntegrations`).
 */
export function loadIntegrations(dirs: string[]): IntegrationDirectory {
  const integrations = new IntegrationDirectory()
  const problems: IntegrationProblem[] = []
  for (const dir of dirs) {
    const result = readDir(dir, false)
    problems.push(...result.problems)
    for (const integration of result.integrations) {
      integrations.set(integration.key, integration)
      integrations.skipped.delete(integration.key)
    }
    for (const skipped of result.skipped) {
      integrations.delete(skipped.key)
      integrations.skipped.set(skipped.key, skipped)
    }
  }
  if (problems.length > 0) throw new IntegrationError(problems)
  return integrations
}

/**
 * Every problem of the manifests in `dir` that LaunchDarkly's integration-framework CI or the
 * receiver would reject (empty when all are valid), for `integrations validate DIR`.
 */
export function validateIntegrations(dir: string): ValidationReport {
  const { integrations, skipped, problems } = readDir(dir, true)
  return { problems, valid: integrations.map((i) => i.key), skipped: skipped.map((s) => s.key) }
}

/** The problems of `validateIntegrations`. */
export function validateIntegrationsDir(dir: string): IntegrationProblem[] {
  return validateIntegrations(dir).problems
}

interface DirContents {
  integrations: CompiledIntegration[]
  skipped: SkippedIntegration[]
  problems: IntegrationProblem[]
}

function readDir(dir: string, ci: boolean): DirContents {
  const contents: DirContents = { integrations: [], skipped: [], problems: [] }
  const { problems } = contents
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch (err) {
    problems.push({
      file: dir,
      rule: 'integrations-dir',
      message: `cannot read the directory: ${(err as Error).message}`
    })
    return contents
  }
  const seen = new Map<string, string>()
  for (const name of names) {
    const integrationDir = join(dir, name)
    // Dot-directories (.git, .DS_Store…) and plain files (LICENSE, NOTICE) are not integrations.
    if (name.startsWith('.') || !isDirectory(integrationDir)) continue
    const file = join(integrationDir, 'manifest.json')
    const key = name.toLowerCase()
    const earlier = seen.get(key)
    if (earlier !== undefined) {
      problems.push({
        file,
        rule: 'duplicate-key',
        message: `the key "${key}" is already used by ${join(dir, earlier)} (keys are case-insensitive)`
      })
      continue
    }
    seen.set(key, name)
    if (!INTEGRATION_KEY.test(key)) {
      problems.push({
        file,
        rule: 'integration-key',
        message: `the directory name "${name}" is not a valid integration key (letters, digits, ".", "_", "-", at most 64, starting with a letter or digit)`
      })
      continue
    }
    let text: string
    let manifest: unknown
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      problems.push({
        file,
        rule: 'manifest-file',
        message: `cannot read the manifest: ${(err as Error).message}`
      })
      continue
    }
    try {
      manifest = JSON.parse(text)
    } catch (err) {
      problems.push({
        file,
        rule: 'manifest-file',
        message: `the manifest is not valid JSON: ${(err as Error).message}`
      })
      continue
    }
    if (!isObject(manifest)) {
      problems.push({ file, rule: 'manifest-file', message: 'the manifest is not a JSON object' })
      continue
    }
    const tie = (problem: RuleProblem): void => {
      problems.push({ file, ...problem })
    }
    if (ci) checkManifestForCI(manifest, integrationDir).forEach(tie)
    if (syncedSegmentOf(manifest) === undefined) {
      contents.skipped.push({ key, name: manifestName(manifest, key), manifestPath: file })
      continue
    }
    const result = compileManifest(key, file, manifest)
    if (result.integration !== undefined) contents.integrations.push(result.integration)
    else result.problems.forEach(tie)
    if (ci) templateVariableProblems(manifest).forEach(tie)
  }
  return contents
}

/** `jsonResponseBody` variables that do not exist: they would render as "". */
function templateVariableProblems(manifest: unknown): RuleProblem[] {
  const template = (syncedSegmentOf(manifest) as { jsonResponseBody?: unknown }).jsonResponseBody
  if (typeof template !== 'string' || template === '') return []
  let unknown: string[]
  try {
    unknown = unknownTemplateVariables(template)
  } catch {
    return [] // a template that does not parse is reported by compileManifest
  }
  return unknown.map((variable) => ({
    rule: 'response-template-variable' as const,
    message: `jsonResponseBody reads ${JSON.stringify(variable)}, which is not a variable (${RESPONSE_VARIABLES.join(', ')}); it would render as ""`
  }))
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
