/**
 * A stored segment in LaunchDarkly's `UserSegment` shape, as it applies to a big (synced) segment,
 * plus this project's `includedCount` and `excludedCount`. Big segments carry no rules and no
 * inline target lists: `rules`, `included` and `excluded` are always empty, the counts live in
 * `_unboundedMetadata`.
 */
import type { EnvironmentRef, SegmentRecord } from '../store/types'
import { consoleSegmentPath } from './links'
import type { Link } from './list-query'

export const SEGMENTS_PATH = '/api/v2/segments'

export interface SegmentRep {
  key: string
  name: string
  tags: string[]
  creationDate: number
  lastModifiedDate: number
  version: number
  deleted: false
  _links: { self: Link; site: Link }
  rules: []
  included: []
  excluded: []
  unbounded: true
  unboundedContextKind: string
  generation: number
  _unboundedMetadata: {
    version: number
    includedCount: number
    excludedCount: number
    lastModified: number
    deleted: false
  }
  _external: string
  _externalLink?: string
  _importInProgress: boolean
  includedCount: number
  excludedCount: number
  /** This project's: the segment's latest applied sync (§F). */
  _lastSync?: SegmentRecord['_lastSync']
}

export function segmentPath(env: EnvironmentRef, segmentKey?: string): string {
  const base = `${SEGMENTS_PATH}/${encodeURIComponent(env.projectKey)}/${encodeURIComponent(env.environmentKey)}`
  return segmentKey === undefined ? base : `${base}/${encodeURIComponent(segmentKey)}`
}

/** `importing`: an import into the segment is running (the store's `segmentsImporting`). */
export function segmentRep(env: EnvironmentRef, record: SegmentRecord, importing = false): SegmentRep {
  const rep: SegmentRep = {
    key: record.key,
    name: record.name,
    tags: [],
    creationDate: record.creationDate,
    lastModifiedDate: record.lastModifiedDate,
    version: record.version,
    deleted: false,
    _links: {
      self: { href: segmentPath(env, record.key), type: 'application/json' },
      site: { href: consoleSegmentPath(env.projectKey, env.environmentKey, record.key), type: 'text/html' }
    },
    rules: [],
    included: [],
    excluded: [],
    unbounded: true,
    unboundedContextKind: record.unboundedContextKind,
    generation: record.generation,
    _unboundedMetadata: {
      version: record.version,
      includedCount: record.includedCount,
      excludedCount: record.excludedCount,
      lastModified: record.lastModifiedDate,
      deleted: false
    },
    _external: record._external,
    _importInProgress: importing,
    includedCount: record.includedCount,
    excludedCount: record.excludedCount
  }
  if (record._externalLink !== undefined) rep._externalLink = record._externalLink
  if (record._lastSync !== undefined) rep._lastSync = record._lastSync
  return rep
}
