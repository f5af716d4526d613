/**
 * Generates the Engage event fixtures in `fixtures/engage/` from fixed seeds, so the files are
 * reproducible and a test can tell when a committed file no longer matches its generator.
 *
 *   npx ts-node --transpile-only scripts/generate-engage-fixtures.ts
 *
 * Events follow what Engage sends to an audience destination: an `identify` with
 * `traits.<audience_key>: true|false`, or a `track` "Audience Entered"/"Audience Exited" with
 * `properties.<audience_key>`, both carrying `context.personas` (computation_id, computation_key,
 * computation_class 'audience', namespace, space_id). A share of lines is deliberately invalid.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Audience {
  key: string
  id: string
}

/** An Engage space. Each space is its own Segment source, so it gets its own destination mapping. */
export interface EngageSpace {
  spaceId: string
  /** What a profile is in this space; names the profiles (`userId`) of generated events. */
  profileNames: readonly string[]
  profilePrefix: string
  emailDomain?: string
  audiences: readonly Audience[]
}

export const PEOPLE_SPACE: EngageSpace = {
  spaceId: 'spa_7fKq2RbX9nHcWd3LmT5vYe',
  profileNames: [
    'ada', 'grace', 'linus', 'margaret', 'alan', 'barbara', 'ken', 'dennis', 'frances', 'edsger',
    'radia', 'donald', 'hedy', 'tim', 'katherine', 'john', 'annie', 'guido', 'sophie', 'yukihiro'
  ],
  profilePrefix: 'user',
  emailDomain: 'example.com',
  audiences: [
    { key: 'power_users', id: 'aud_2Wq8sJ4kPzN1cVbR6tXyLm' },
    { key: 'churn_risk', id: 'aud_2Wq8sKd7HfA3eUoP0gZwQn' },
    { key: 'beta_testers', id: 'aud_2Wq8sLx5TjB9iYrE2hCvKp' },
    { key: 'high_value_customers', id: 'aud_2Wq8sMa1VnD6oWsF4jGxRt' },
    { key: 'newsletter_subscribers', id: 'aud_2Wq8sNc3XpF8qAuH6kJzSv' }
  ]
}

/** A second space whose profiles are customer organizations (LaunchDarkly context kind `organization`). */
export const ORGANIZATIONS_SPACE: EngageSpace = {
  spaceId: 'spa_3HbN8uYt1QvLc6ZxPo2Rkw',
  profileNames: ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell', 'cyberdyne', 'wonka'],
  profilePrefix: 'org',
  audiences: [
    { key: 'enterprise_accounts', id: 'aud_2Wq8sPe5ZrH0sCwK8mLbTx' },
    { key: 'accounts_past_due', id: 'aud_2Wq8sQg7BtJ2uEyM0nNdVz' }
  ]
}

/** The invalid variants, cycled in order so even a small file holds each of them. */
export const INVALID_KINDS = [
  'no-user-id',
  'string-membership',
  'missing-membership',
  'not-subscribed',
  'malformed-json'
] as const
export type InvalidKind = (typeof INVALID_KINDS)[number]

export interface GenerateOptions {
  space: EngageSpace
  seed: number
  /** Lines to produce (valid and invalid). */
  events: number
  /** Profiles to draw from; the first ones take the space's readable names. */
  profiles: number
  /** How many of the space's audiences to use (all by default). */
  audiences?: number
  /** Share of lines that are invalid (default 0.06). */
  invalidShare?: number
  /** Time of the first event (ISO); later events follow at seeded intervals. */
  start?: string
}

/** mulberry32: small, fast and good enough for fixtures; the same seed gives the same file. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function profileId(space: EngageSpace, index: number): string {
  const name = space.profileNames[index]
  return name ? `${space.profilePrefix}-${name}` : `${space.profilePrefix}-${String(index + 1).padStart(5, '0')}`
}

/** Returns the NDJSON lines (without newlines); a malformed line is kept as raw text. */
export function generateEngageLines(options: GenerateOptions): string[] {
  const { space, seed, events, profiles } = options
  const random = seededRandom(seed)
  const audiences = space.audiences.slice(0, options.audiences ?? space.audiences.length)
  const invalidShare = options.invalidShare ?? 0.06
  let time = Date.parse(options.start ?? '2026-11-02T09:00:00.000Z')
  const membership = new Map<string, boolean>()
  const lines: string[] = []
  let invalidCount = 0
  let messageCount = 0

  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  // Squaring skews towards low indexes: a few profiles change often, as busy users do.
  const pickProfile = (): number => Math.floor(random() * random() * profiles)

  for (let i = 0; i < events; i++) {
    time += 1000 + Math.floor(random() * 90_000)
    messageCount += 1
    const audience = pick(audiences)
    const profile = pickProfile()
    const stateKey = `${audience.key}\u0000${profile}`
    const current = membership.get(stateKey)
    const useTrack = random() < 0.5

    if (random() < invalidShare) {
      const kind = INVALID_KINDS[invalidCount % INVALID_KINDS.length]
      invalidCount += 1
      lines.push(invalidLine(kind, { space, audience, profile, time, messageCount, useTrack, random }))
      continue
    }

    // Engage mostly sends changes, but re-sends the current value now and then (re-syncs).
    const resend = current !== undefined && random() < 0.1
    const value = resend ? current : current !== true
    membership.set(stateKey, value)
    lines.push(JSON.stringify(engageEvent({ space, audience, profile, time, messageCount, useTrack, value })))
  }
  return lines
}

interface EventParts {
  space: EngageSpace
  audience: Audience
  profile: number
  time: number
  messageCount: number
  useTrack: boolean
}

function engageEvent(parts: EventParts & { value: unknown; omitUserId?: boolean; omitMembership?: boolean }) {
  const { space, audience, profile, time, messageCount, useTrack, value } = parts
  const userId = profileId(space, profile)
  const email = space.emailDomain ? `${userId.slice(space.profilePrefix.length + 1)}@${space.emailDomain}` : undefined
  const membership = parts.omitMembership ? {} : { [audience.key]: value }
  const timestamp = new Date(time).toISOString()
  const event: Record<string, unknown> = {
    messageId: `personas_${space.spaceId.slice(4, 10)}${String(messageCount).padStart(7, '0')}`,
    type: useTrack ? 'track' : 'identify',
    ...(parts.omitUserId ? {} : { userId }),
    anonymousId: `anon-${(((profile + 1) * 2654435761) >>> 0).toString(16)}`,
    timestamp,
    receivedAt: timestamp,
    context: {
      library: { name: 'unknown', version: 'unknown' },
      personas: {
        computation_class: 'audience',
        computation_id: audience.id,
        computation_key: audience.key,
        namespace: space.spaceId,
        space_id: space.spaceId
      },
      ...(email ? { traits: { email } } : {})
    },
    integrations: { All: false, 'LaunchDarkly Audiences': true }
  }
  if (useTrack) {
    event.event = value === true ? 'Audience Entered' : 'Audience Exited'
    event.properties = { audience_key: audience.key, ...membership }
  } else {
    event.traits = { ...(email ? { email } : {}), ...membership }
  }
  return event
}

function invalidLine(kind: InvalidKind, parts: EventParts & { random: () => number }): string {
  switch (kind) {
    case 'no-user-id':
      return JSON.stringify(engageEvent({ ...parts, value: true, omitUserId: true }))
    case 'string-membership':
      return JSON.stringify(engageEvent({ ...parts, value: parts.random() < 0.5 ? 'false' : 'true' }))
    case 'missing-membership':
      return JSON.stringify(engageEvent({ ...parts, value: undefined, omitMembership: true }))
    case 'not-subscribed': {
      // A page view in the export: the preset's subscription (identify or track) must skip it.
      const userId = profileId(parts.space, parts.profile)
      return JSON.stringify({
        messageId: `page_${String(parts.messageCount).padStart(7, '0')}`,
        type: 'page',
        name: 'Pricing',
        userId,
        timestamp: new Date(parts.time).toISOString(),
        properties: { path: '/pricing', title: 'Pricing' }
      })
    }
    case 'malformed-json':
      // A line cut short, as a truncated export leaves it.
      return JSON.stringify(engageEvent({ ...parts, value: true })).slice(0, 90)
  }
}

/** The committed fixtures and how each is made. */
export const FIXTURES: ReadonlyArray<{ file: string; options: GenerateOptions }> = [
  { file: 'demo.ndjson', options: { space: PEOPLE_SPACE, seed: 7, events: 160, profiles: 12, audiences: 4, invalidShare: 0.08 } },
  {
    file: 'demo-organizations.ndjson',
    options: { space: ORGANIZATIONS_SPACE, seed: 11, events: 40, profiles: 8, invalidShare: 0.1 }
  },
  { file: 'people.ndjson', options: { space: PEOPLE_SPACE, seed: 42, events: 2500, profiles: 400 } },
  { file: 'organizations.ndjson', options: { space: ORGANIZATIONS_SPACE, seed: 43, events: 600, profiles: 60 } }
]

export const FIXTURES_DIR = join(__dirname, '..', 'fixtures', 'engage')

if (require.main === module) {
  for (const { file, options } of FIXTURES) {
    const lines = generateEngageLines(options)
    writeFileSync(join(FIXTURES_DIR, file), lines.join('\n') + '\n')
    console.log(`${file}: ${lines.length} lines`)
  }
}
