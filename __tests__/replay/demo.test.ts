import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEMO_REPLAYS, ENGAGE_FIXTURES_DIR, runDemo } from '../../src/cli/demo'
import { identify, type AudienceRef } from './events'

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

  it('checks memberships under the segment key the receiver gives an audience ID outside the plain alphabet (hashed, §B4)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synced-segments-demo-fixtures-'))
    try {
      const people: AudienceRef = { id: 'aud people/1', key: 'people_one' }
      const orgs: AudienceRef = { id: 'aud orgs/1', key: 'orgs_one' }
      const lines = (events: ReturnType<typeof identify>[]) => `${events.map((e) => JSON.stringify(e)).join('\n')}\n`
      writeFileSync(
        join(dir, 'demo.ndjson'),
        lines([
          identify('u1', people, true),
          identify('u1', people, false),
          identify('u1', people, true),
          identify('u2', people, true),
          identify('u2', people, false)
        ])
      )
      writeFileSync(join(dir, 'demo-organizations.ndjson'), lines([identify('org1', orgs, true)]))

      const output: string[] = []
      const code = await runDemo({ write: (text: string) => output.push(text) }, { fixturesDir: dir })
      const text = output.join('')
      expect(text).toMatch(/✓ u1 \(user\) is in people_one/)
      expect(text).toMatch(/✓ u2 \(user\) is not in people_one/)
      expect(code).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
