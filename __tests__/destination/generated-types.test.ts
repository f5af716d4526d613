import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SYNC_AUDIENCE_FIELD_KEYS } from './helpers'

const ROOT = join(__dirname, '..', '..')

/** Regenerates in memory (nothing is written) in a child process, where prettier can load. */
function regenerate(): Record<string, string> {
  const stdout = execFileSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'scripts/generate-types.ts', '--print'],
    { cwd: ROOT, encoding: 'utf8' }
  )
  return JSON.parse(stdout) as Record<string, string>
}

describe('generated types', () => {
  const files = regenerate()

  it('are up to date with the field definitions (run `npm run generate-types` when this fails)', () => {
    expect(Object.keys(files).sort()).toEqual([
      'src/destination/generated-types.ts',
      'src/destination/syncAudience/generated-types.ts',
      'src/destination/syncWarehouseAudience/generated-types.ts'
    ])
    for (const [path, content] of Object.entries(files)) {
      expect({ path, content: readFileSync(join(ROOT, path), 'utf8') }).toEqual({ path, content })
    }
  })

  it("are made as action-destinations' generate:types makes them: its banner, choices typed as plain strings", () => {
    for (const content of Object.values(files)) {
      expect(content.startsWith('// Generated file. DO NOT MODIFY IT BY HAND.\n\nexport interface ')).toBe(
        true
      )
    }
    const payload = files['src/destination/syncAudience/generated-types.ts']
    // That generator drops `enum`, so a field with choices is a string, not a union of them.
    for (const line of [
      'segment_computation_action: string',
      'context_key: string',
      'audience_action?: string',
      'batch_size?: number',
      'traits_or_props: {\n    [k: string]: unknown\n  }'
    ]) {
      expect(payload).toContain(`\n  ${line}\n`)
    }
  })

  it('describe every setting and every field of the action', () => {
    const settings = files['src/destination/generated-types.ts']
    for (const key of ['apiKey', 'clientId', 'apiBaseUrl']) {
      expect(settings).toMatch(new RegExp(`\\n  ${key}\\??:`))
    }
    const payload = files['src/destination/syncAudience/generated-types.ts']
    for (const key of SYNC_AUDIENCE_FIELD_KEYS) {
      expect(payload).toMatch(new RegExp(`\\n  ${key}\\??:`))
    }
  })

  it('describe every field of the warehouse action', () => {
    const payload = files['src/destination/syncWarehouseAudience/generated-types.ts']
    for (const key of [
      'cohort_id',
      'cohort_name',
      'context_key',
      'context_kind',
      'retl_event_name',
      'enable_batching',
      'batch_size'
    ]) {
      expect(payload).toMatch(new RegExp(`\\n  ${key}\\??:`))
    }
  })
})
