/** `synced-segments integrations validate DIR | list`: check manifests without serving, see what is loaded. */
import type { Command } from 'commander'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations, validateIntegrations } from '../receiver/integrations'

const MODE_NAMES = {
  boolean: 'boolean membership',
  inclusion: 'array inclusion',
  addRemove: 'add/remove arrays'
}

/**
 * Returns the exit code: 1 when LaunchDarkly's CI or the receiver would reject any manifest, or
 * when the directory holds no integration at all. Every problem of every manifest is listed.
 */
export function validate(
  dir: string,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr
): number {
  const { problems, valid, skipped } = validateIntegrations(dir)
  for (const p of problems) err.write(`${p.file}: [${p.rule}] ${p.message}\n`)
  if (problems.length > 0) {
    err.write(`${plural(problems.length, 'problem')} in ${dir}\n`)
    return 1
  }
  if (valid.length + skipped.length === 0) {
    err.write(`no integrations in ${dir} (expected ${dir}/<integrationKey>/manifest.json)\n`)
    return 1
  }
  out.write(
    `${plural(valid.length, 'synced-segment integration')} valid in ${dir}${valid.length > 0 ? `: ${valid.join(', ')}` : ''}\n`
  )
  if (skipped.length > 0)
    out.write(
      `${plural(skipped.length, 'integration')} without syncedSegment, skipped: ${skipped.join(', ')}\n`
    )
  return 0
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

export function list(extraDir: string | undefined, out: NodeJS.WritableStream = process.stdout): void {
  const integrations = loadIntegrations(
    extraDir ? [BUNDLED_INTEGRATIONS_DIR, extraDir] : [BUNDLED_INTEGRATIONS_DIR]
  )
  const keys = [...integrations.keys()].sort()
  const width = Math.max(...keys.map((k) => k.length), 3)
  out.write(`${'KEY'.padEnd(width)}  ${'MODE'.padEnd(18)}  RESPONSE BODY  NAME\n`)
  for (const key of keys) {
    const integration = integrations.get(key)
    if (!integration) continue
    const custom = integration.responseTemplate === undefined ? 'default' : 'custom'
    out.write(
      `${key.padEnd(width)}  ${MODE_NAMES[integration.parser.mode.kind].padEnd(18)}  ${custom.padEnd(13)}  ${integration.name}\n`
    )
  }
  const skipped = [...integrations.skipped.keys()].sort()
  if (skipped.length > 0)
    out.write(
      `${plural(skipped.length, 'integration')} without syncedSegment, skipped: ${skipped.join(', ')}\n`
    )
}

export function register(program: Command): void {
  const command = program.command('integrations').description('check and list integration manifests')
  command
    .command('validate <dir>')
    .description(
      "validate <dir>/<integrationKey>/manifest.json as LaunchDarkly's CI does, without serving; exits 1 listing every file and broken rule"
    )
    .action((dir: string) => {
      process.exitCode = validate(dir)
    })
  command
    .command('list')
    .description('list the integrations a receiver would load')
    .option('--integrations <dir>', 'extra integrations, as for serve')
    .action((options: { integrations?: string }) => {
      list(options.integrations)
    })
}
