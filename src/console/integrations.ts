/**
 * What the console shows of each loaded integration: name, membership mode, response template
 * and its square icon, found once at start from the manifest's `icons.square` (LaunchDarkly's
 * layout: `<dir>/<key>/assets/square.svg`). An icon path that leaves the integration's directory
 * is ignored.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, extname, relative, resolve, sep } from 'node:path'
import type { CompiledIntegration } from '../receiver/integrations'
import { modeLabel } from './view-models'

export const ICON_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg'
}

export interface ConsoleIntegration {
  key: string
  name: string
  mode: string
  template?: string
  manifestPath: string
  /** Absolute path of the square icon, when the manifest names one that exists. */
  iconFile?: string
}

function squareIcon(manifestPath: string): string | undefined {
  let manifest: unknown
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
  } catch {
    return undefined
  }
  const square = (manifest as { icons?: { square?: unknown } }).icons?.square
  if (typeof square !== 'string' || !(extname(square).toLowerCase() in ICON_TYPES)) return undefined
  const dir = dirname(manifestPath)
  const file = resolve(dir, square)
  const inside = relative(dir, file)
  if (inside.startsWith('..') || inside.startsWith(sep) || !existsSync(file)) return undefined
  return file
}

export function describeIntegrations(
  integrations: Map<string, CompiledIntegration>
): Map<string, ConsoleIntegration> {
  const described = new Map<string, ConsoleIntegration>()
  for (const integration of [...integrations.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    described.set(integration.key, {
      key: integration.key,
      name: integration.name,
      mode: modeLabel(integration.parser.mode.kind),
      template: integration.capability.jsonResponseBody,
      manifestPath: integration.manifestPath,
      iconFile: squareIcon(integration.manifestPath)
    })
  }
  return described
}

/**
 * The manifests loaded without a `syncedSegment` capability (§B8: most of LaunchDarkly's
 * directory), when the loader keeps them beside the integrations (`integrations.skipped`).
 */
export function skippedIntegrations(
  integrations: Map<string, CompiledIntegration>
): Array<{ key: string; name: string; reason: string }> | undefined {
  const skipped = (integrations as { skipped?: Map<string, { key: string; name: string }> }).skipped
  if (!(skipped instanceof Map)) return undefined
  return [...skipped.values()]
    .sort((a, b) => a.key.localeCompare(b.key))
    .map(({ key, name }) => ({ key, name, reason: 'its manifest has no syncedSegment capability' }))
}
