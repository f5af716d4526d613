/**
 * Request bodies for the receiver benchmark, one builder per parser mode, each in the payload shape
 * of a bundled integration. Every request carries distinct members so the store does real work:
 * 90 % of the ops add context keys never seen before, 10 % remove keys an earlier request of the
 * same cohort added (real deletes, not misses). Bodies are built before the clock starts.
 */

export type ParserMode = 'boolean' | 'arrayInclusion' | 'addRemove'

export const PARSER_MODES: readonly ParserMode[] = ['boolean', 'arrayInclusion', 'addRemove']

/** The bundled integration whose manifest exercises each mode. */
export const INTEGRATION_FOR: Record<ParserMode, string> = {
  boolean: 'segment-audiences',
  arrayInclusion: 'hightouch',
  addRemove: 'rudderstack'
}

/** Requests rotate over this many cohorts (segments). */
export const COHORTS = 8
/**
 * Removes target request `r - REMOVE_LAG`: a multiple of COHORTS, so the same cohort, and not a
 * multiple of 10, so under arrayInclusion (every 10th request removes) it is always an add request.
 */
const REMOVE_LAG = 32
const REMOVE_SHARE = 0.1

export function contextKey(request: number, member: number): string {
  return `user-${request}-${member}`
}

function cohortOf(request: number): { cohortId: string; cohortName: string } {
  const c = request % COHORTS
  return { cohortId: `aud_bench_${c}`, cohortName: `Bench audience ${c}` }
}

/** The ops request `r` makes: keys it adds and keys (of an earlier request) it removes. */
function opsOf(mode: ParserMode, r: number, members: number): { added: string[]; removed: string[] } {
  const canRemove = r >= REMOVE_LAG
  if (mode === 'arrayInclusion') {
    // One action per request: every 10th request removes all of an earlier request's members.
    const removing = canRemove && r % 10 === 9
    const keys = Array.from({ length: members }, (_, i) => contextKey(removing ? r - REMOVE_LAG : r, i))
    return removing ? { added: [], removed: keys } : { added: keys, removed: [] }
  }
  const removals = canRemove ? Math.floor(members * REMOVE_SHARE) : 0
  return {
    added: Array.from({ length: members - removals }, (_, i) => contextKey(r, i)),
    removed: Array.from({ length: removals }, (_, i) => contextKey(r - REMOVE_LAG, i))
  }
}

/** The JSON body of request `r` (`members` ops) for `mode`, addressed to the environment `clientId`. */
export function buildBody(mode: ParserMode, r: number, members: number, clientId: string): Buffer {
  const { cohortId, cohortName } = cohortOf(r)
  const { added, removed } = opsOf(mode, r, members)
  let body: unknown
  switch (mode) {
    case 'boolean':
      // The destination's own format: cohort per member, as the segment-audiences manifest reads it.
      body = {
        environmentId: clientId,
        contextKind: 'user',
        batch: [
          ...added.map((userId) => ({ userId, cohortName, cohortId, value: true })),
          ...removed.map((userId) => ({ userId, cohortName, cohortId, value: false }))
        ]
      }
      break
    case 'arrayInclusion':
      body = {
        environmentId: clientId,
        contextKind: 'user',
        cohortId,
        cohortName,
        action: added.length > 0 ? 'add' : 'remove',
        members: [...added, ...removed].map((id) => ({ integration_distinct_id: id }))
      }
      break
    case 'addRemove':
      body = {
        environmentId: clientId,
        contextKind: 'user',
        cohortId,
        cohortName,
        cohortUrl: `https://app.rudderstack.example/audiences/${cohortId}`,
        listData: { add: added.map((id) => ({ id })), remove: removed.map((id) => ({ id })) }
      }
      break
  }
  return Buffer.from(JSON.stringify(body))
}

/** Bodies `first … first + count - 1`. */
export function buildBodies(
  mode: ParserMode,
  first: number,
  count: number,
  members: number,
  clientId: string
): Buffer[] {
  return Array.from({ length: count }, (_, i) => buildBody(mode, first + i, members, clientId))
}

/** A one-cohort, all-adds body: request `r` of loading a big segment. */
export function buildLoadBody(r: number, members: number, clientId: string): Buffer {
  const batch = Array.from({ length: members }, (_, i) => ({
    userId: contextKey(r, i),
    cohortName: 'Big segment',
    cohortId: 'aud_big',
    value: true
  }))
  return Buffer.from(JSON.stringify({ environmentId: clientId, contextKind: 'user', batch }))
}
