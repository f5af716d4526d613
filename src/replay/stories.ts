/**
 * What a file of Engage events says about each (audience, user) pair, read directly from the
 * events under the preset's default mapping (context key = userId, membership = the boolean at
 * `properties[audience_key]`, else `traits[audience_key]`). The demo uses it to pick membership
 * checks whose answers follow from the events, not from the receiver it checks.
 */
import type { SegmentEvent } from '@segment/actions-core'

export type Step = { value: boolean } | { invalid: string }

export interface MembershipStory {
  audienceId: string
  audienceKey: string
  contextKey: string
  steps: Step[]
  /** The last valid value; undefined when no valid event was seen. */
  included: boolean | undefined
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing'
  return typeof value === 'string' ? `${JSON.stringify(value)} (a string)` : JSON.stringify(value)
}

/** Stories in order of each pair's first event; events without a user ID have no pair to tell. */
export function membershipStories(events: Iterable<SegmentEvent>): MembershipStory[] {
  const stories = new Map<string, MembershipStory>()
  for (const event of events) {
    if (event.type !== 'identify' && event.type !== 'track') continue
    const personas = event.context?.personas as { computation_id?: unknown; computation_key?: unknown } | undefined
    const audienceId = personas?.computation_id
    const audienceKey = personas?.computation_key
    const contextKey = event.userId
    if (typeof audienceId !== 'string' || typeof audienceKey !== 'string' || typeof contextKey !== 'string' || !contextKey) continue
    const source = (event.properties ?? event.traits ?? {}) as Record<string, unknown>
    const value = source[audienceKey]
    const id = JSON.stringify([audienceId, contextKey])
    let story = stories.get(id)
    if (!story) {
      story = { audienceId, audienceKey, contextKey, steps: [], included: undefined }
      stories.set(id, story)
    }
    if (typeof value === 'boolean') {
      story.steps.push({ value })
      story.included = value
    } else {
      story.steps.push({ invalid: `membership ${describe(value)}` })
    }
  }
  return [...stories.values()]
}

export interface Check {
  story: MembershipStory
  /** Why the expected answer follows from the events, in a few words. */
  because: string
}

function values(story: MembershipStory): boolean[] {
  return story.steps.flatMap((s) => ('value' in s ? [s.value] : []))
}

/** A handful of telling pairs: a re-entry, an exit, an invalid last event that must not count. */
export function pickChecks(stories: MembershipStory[]): Check[] {
  const checks: Check[] = []
  const reentered = stories.find((s) => values(s).join().includes('true,false,true') && s.included === true)
  if (reentered) checks.push({ story: reentered, because: 'entered, exited, entered again' })
  const exited = stories.find((s) => s.included === false && values(s).includes(true) && s !== reentered)
  if (exited) checks.push({ story: exited, because: 'entered, then exited' })
  // Best: a rejected last event, which a lenient destination would have applied (the §A6 faults).
  const withInvalid =
    stories.find((s) => s.included !== undefined && 'invalid' in s.steps[s.steps.length - 1]) ??
    stories.find((s) => s.included !== undefined && s.steps.some((step) => 'invalid' in step) && !checks.some((c) => c.story === s))
  if (withInvalid) {
    const invalid = withInvalid.steps.filter((step): step is { invalid: string } => 'invalid' in step)
    checks.push({ story: withInvalid, because: `an event with ${invalid[invalid.length - 1].invalid} was rejected; the valid ones decide` })
  }
  return checks
}
