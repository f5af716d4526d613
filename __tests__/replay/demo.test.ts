import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEMO_REPLAYS, ENGAGE_FIXTURES_DIR, runDemo } from '../../src/cli/demo'

/** The audiences a fixture file has at least one valid event for, read from the file itself. */
function audiencesIn(file: string): Array<{ id: string; key: string }> {
  const audiences = new Map<string, string>()
  for (const line of readFileSync(join(ENGAGE_FIXTURES_DIR, file), 'utf8').split('\n')) {
    let event: { userId?: unknown; traits?: Record<string, unknown>; properties?: Record<string, unknown>; context?: { personas?: { computation_id: string; computation_key: string } } }
    try {
      event = JSON.parse(line)
    } catch {
      continue
    }
    const personas = event.context?.personas
    if (!personas || typeof event.userId !== 'string') continue
    if (typeof (event.properties ?? event.traits)?.[personas.computation_key] === 'boolean') audiences.set(personas.computation_id, personas.computation_key)
  }
  return [...audiences].map(([id, key]) => ({ id, key }))
}

describe('synced-segments demo', () => {
  it('replays the bundled fixtures into a fresh receiver, lists the segments, passes its checks and exits 0', async () => {
    const output: string[] = []
    const code = await runDemo({ write: (text: string) => output.push(text) })
    const text = output.join('')

    expect(code).toBe(0)
    for (const replay of DEMO_REPLAYS) expect(text).toContain(replay.file)

    const tableRows = text.split('\n').filter((line) => /^\s+segment-audiences-/.test(line))
    const expected = DEMO_REPLAYS.flatMap((replay) =>
      audiencesIn(replay.file).map((a) => ({ ...a, kind: String(replay.mapping.context_kind ?? 'user') }))
    )
    expect(tableRows).toHaveLength(expected.length)
    for (const audience of expected) {
      const row = tableRows.find((line) => line.trim().startsWith(`segment-audiences-${audience.id} `))
      expect(row).toBeDefined()
      expect(row).toContain(` ${audience.kind} `)
    }
    expect(new Set(expected.map((a) => a.kind))).toEqual(new Set(['user', 'organization']))

    const checks = text.split('\n').filter((line) => /^\s+[✓✗] /.test(line))
    expect(checks.length).toBeGreaterThanOrEqual(3)
    expect(checks.every((line) => line.trim().startsWith('✓'))).toBe(true)
    expect(text).toMatch(new RegExp(`${expected.length} segments, ${checks.length}/${checks.length} checks passed\\.`))

    // The temporary data directory is gone afterwards.
    const dataDir = /SQLite in (\S+)\)/.exec(text)?.[1]
    expect(dataDir).toBeDefined()
    expect(existsSync(dataDir as string)).toBe(false)
  })
})
