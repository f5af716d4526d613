/** `synced-segments integrations validate DIR | list`: check manifests without serving, see what is loaded. */
import type { Command } from 'commander'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations, validateIntegrationsDir } from '../receiver/integrations'

const MODE_NAMES = { boolean: 'boolean membership', inclusion: 'array inclusion', addRemove: 'add/remove arrays' }

/** Returns the exit code: 1 when any manifest breaks a rule or none is found. */
export function validate(dir: string, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const problems = validateIntegrationsDir(dir)
  if (problems.length > 0) {
    for (const p of problems) err.write(`${p.file}: [${p.rule}] ${p.message}\n`)
    err.write(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${dir}\n`)
    return 1
  }
  const integrations = loadIntegrations([dir])
  if (integrations.size === 0) {
    err.write(`no integrations in ${dir} (expected ${dir}/<integrationKey>/manifest.json)\n`)
    return 1
  }
  out.write(`${integrations.size} integration${integrations.size === 1 ? '' : 's'} valid in ${dir}: ${[...integrations.keys()].join(', ')}\n`)
  return 0
}

export function list(extraDir: string | undefined, out: NodeJS.WritableStream = process.stdout): void {
  const integrations = loadIntegrations(extraDir ? [BUNDLED_INTEGRATIONS_DIR, extraDir] : [BUNDLED_INTEGRATIONS_DIR])
  const keys = [...integrations.keys()].sort()
  const width = Math.max(...keys.map((k) => k.length), 3)
  out.write(`${'KEY'.padEnd(width)}  ${'MODE'.padEnd(18)}  RESPONSE BODY  NAME\n`)
  for (const key of keys) {
    const integration = integrations.get(key)
    if (!integration) continue
    const custom = integration.capability.jsonResponseBody === undefined ? 'default' : 'custom'
    out.write(`${key.padEnd(width)}  ${MODE_NAMES[integration.parser.mode.kind].padEnd(18)}  ${custom.padEnd(13)}  ${integration.name}\n`)
  }
}

export function register(program: Command): void {
  const command = program.command('integrations').description('check and list integration manifests')
  command
    .command('validate <dir>')
    .description('validate <dir>/<integrationKey>/manifest.json without serving; exits 1 naming each file and broken rule')
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
