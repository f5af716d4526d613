/** Small Engage event builders for the replay tests, and a loose reader of generated fixture lines. */
import type { SegmentEvent } from '@segment/actions-core'
import type { EventRecord } from '../../src/replay/types'

export interface AudienceRef {
  id: string
  key: string
}

export const POWER_USERS: AudienceRef = { id: 'aud_power', key: 'power_users' }
export const BETA_TESTERS: AudienceRef = { id: 'aud_beta', key: 'beta_testers' }

function personas(audience: AudienceRef) {
  return {
    personas: {
      computation_class: 'audience',
      computation_id: audience.id,
      computation_key: audience.key,
      namespace: 'spa_test',
      space_id: 'spa_test'
    }
  }
}

export function identify(userId: string | undefined, audience: AudienceRef, value: unknown): SegmentEvent {
  return {
    type: 'identify',
    ...(userId === undefined ? { anonymousId: 'anon-1' } : { userId }),
    traits: value === undefined ? {} : { [audience.key]: value as boolean },
    context: personas(audience)
  }
}

export function track(userId: string, audience: AudienceRef, value: unknown): SegmentEvent {
  return {
    type: 'track',
    event: value === true ? 'Audience Entered' : 'Audience Exited',
    userId,
    properties: { audience_key: audience.key, [audience.key]: value as boolean },
    context: personas(audience)
  }
}

export function page(userId: string): SegmentEvent {
  return { type: 'page', name: 'Pricing', userId, properties: { path: '/pricing' } }
}

/** Numbers events as lines; a string is a malformed line with that error. */
export async function* records(items: Array<SegmentEvent | string>): AsyncGenerator<EventRecord> {
  let line = 0
  for (const item of items) {
    line += 1
    yield typeof item === 'string' ? { line, error: item } : { line, event: item }
  }
}

/** What the tests read from a fixture line; anything may be missing or of the wrong type. */
export interface LooseEvent {
  type?: string
  event?: string
  userId?: unknown
  properties?: Record<string, unknown>
  traits?: Record<string, unknown>
  context: { personas: { computation_class?: string; computation_id: string; computation_key: string } }
}

/** The lines that parse as JSON, in order; the malformed ones are left out. */
export function parseFixtureLines(lines: string[]): LooseEvent[] {
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as LooseEvent]
    } catch {
      return []
    }
  })
}
