import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  FIXTURES,
  FIXTURES_DIR,
  generateEngageLines,
  INVALID_KINDS,
  PEOPLE_SPACE
} from '../../scripts/generate-engage-fixtures'
import { type LooseEvent, parseFixtureLines } from './events'

describe('Engage fixtures', () => {
  it.each(FIXTURES.map((f) => [f.file, f] as const))('%s is what its seeded generator produces', (file, fixture) => {
    const committed = readFileSync(join(FIXTURES_DIR, file), 'utf8')
    expect(committed).toBe(`${generateEngageLines(fixture.options).join('\n')}\n`)
  })

  it('gives the same lines for the same seed and different lines for another', () => {
    const options = { space: PEOPLE_SPACE, seed: 5, events: 200, profiles: 20 }
    expect(generateEngageLines(options)).toEqual(generateEngageLines(options))
    expect(generateEngageLines({ ...options, seed: 6 })).not.toEqual(generateEngageLines(options))
  })

  it('mixes identify and track, entries and exits, and every kind of invalid line', () => {
    const lines = generateEngageLines({ space: PEOPLE_SPACE, seed: 9, events: 1000, profiles: 50 })
    const parsed = parseFixtureLines(lines)
    const malformed = lines.length - parsed.length
    const audienceEvents = parsed.filter((e) => e.type === 'identify' || e.type === 'track')
    const membership = (e: LooseEvent) => (e.properties ?? e.traits ?? {})[e.context.personas.computation_key]

    expect(audienceEvents.some((e) => e.type === 'identify' && membership(e) === true)).toBe(true)
    expect(audienceEvents.some((e) => e.type === 'identify' && membership(e) === false)).toBe(true)
    expect(audienceEvents.some((e) => e.event === 'Audience Entered' && membership(e) === true)).toBe(true)
    expect(audienceEvents.some((e) => e.event === 'Audience Exited' && membership(e) === false)).toBe(true)
    expect(audienceEvents.every((e) => e.context.personas.computation_class === 'audience')).toBe(true)

    const invalid = {
      'no-user-id': audienceEvents.filter((e) => e.userId === undefined).length,
      'string-membership': audienceEvents.filter((e) => typeof membership(e) === 'string').length,
      'missing-membership': audienceEvents.filter((e) => membership(e) === undefined).length,
      'not-subscribed': parsed.filter((e) => e.type === 'page').length,
      'malformed-json': malformed
    }
    expect(Object.keys(invalid).sort()).toEqual([...INVALID_KINDS].sort())
    for (const count of Object.values(invalid)) expect(count).toBeGreaterThan(0)

    // Users re-enter: some (audience, user) pair goes true → false → true.
    const histories = new Map<string, boolean[]>()
    for (const e of audienceEvents) {
      const value = membership(e)
      if (typeof value !== 'boolean' || typeof e.userId !== 'string') continue
      const key = `${e.context.personas.computation_id}/${e.userId}`
      histories.set(key, [...(histories.get(key) ?? []), value])
    }
    expect([...histories.values()].some((h) => h.join().includes('true,false,true'))).toBe(true)
  })
})
