import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

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

  it('describe every setting and every field of the action', () => {
    const settings = files['src/destination/generated-types.ts']
    for (const key of ['apiKey', 'clientId', 'instance', 'apiBaseUrl']) {
      expect(settings).toMatch(new RegExp(`\\n  ${key}\\??:`))
    }
    const payload = files['src/destination/syncAudience/generated-types.ts']
    for (const key of [
      'segment_audience_id',
      'segment_audience_key',
      'segment_computation_action',
      'context_kind',
      'segment_user_id',
      'segment_anonymous_id',
      'user_email',
      'context_key',
      'traits_or_props',
      'enable_batching',
      'audience_action',
      'batch_size'
    ]) {
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
