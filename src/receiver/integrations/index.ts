/**
 * Integration manifests (§B1): read from `<dir>/<integrationKey>/manifest.json`, validated and
 * compiled once at start. Nothing here runs per request.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { compileManifest, type CompiledIntegration } from './compile'
import type { IntegrationProblem } from './validate'

export type { CompiledIntegration, CompiledParser, MembershipMode } from './compile'
export type { IntegrationProblem, IntegrationRule } from './validate'
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

/**
 * Loads every integration of `dirs`, keyed by lower-cased directory name; a later dir adds to or
 * replaces the earlier ones. Throws `IntegrationError` listing every problem when any manifest is
 * invalid, so a broken manifest stops the start instead of failing requests later.
 */
export function loadIntegrations(dirs: string[]): Map<string, CompiledIntegration> {
  const integrations = new Map<string, CompiledIntegration>()
  const problems: IntegrationProblem[] = []
  for (const dir of dirs) {
    const result = readDir(dir)
    problems.push(...result.problems)
    for (const integration of result.integrations) integrations.set(integration.key, integration)
  }
  if (problems.length > 0) throw new IntegrationError(problems)
  return integrations
}

/** Every problem of the manifests in `dir` (empty when all are valid), for `integrations validate DIR`. */
export function validateIntegrationsDir(dir: string): IntegrationProblem[] {
  return readDir(dir).problems
}

function readDir(dir: string): { integrations: CompiledIntegration[]; problems: IntegrationProblem[] } {
  const integrations: CompiledIntegration[] = []
  const problems: IntegrationProblem[] = []
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch (err) {
    return { integrations, problems: [{ file: dir, rule: 'integrations-dir', message: `cannot read the directory: ${(err as Error).message}` }] }
  }
  const seen = new Map<string, string>()
  for (const name of names) {
    const integrationDir = join(dir, name)
    // Dot-directories (.git, .DS_Store…) and plain files are not integrations.
    if (name.startsWith('.') || !isDirectory(integrationDir)) continue
    const file = join(integrationDir, 'manifest.json')
    const key = name.toLowerCase()
    const earlier = seen.get(key)
    if (earlier !== undefined) {
      problems.push({ file, rule: 'duplicate-key', message: `the key "${key}" is already used by ${join(dir, earlier)} (keys are case-insensitive)` })
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
      problems.push({ file, rule: 'manifest-file', message: `cannot read the manifest: ${(err as Error).message}` })
      continue
    }
    try {
      manifest = JSON.parse(text)
    } catch (err) {
      problems.push({ file, rule: 'manifest-file', message: `the manifest is not valid JSON: ${(err as Error).message}` })
      continue
    }
    const result = compileManifest(key, file, manifest)
    if (result.integration !== undefined) integrations.push(result.integration)
    else for (const problem of result.problems) problems.push({ file, ...problem })
  }
  return { integrations, problems }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
