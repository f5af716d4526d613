import type { MembershipOp } from '../../store/types'

/** `capabilities.syncedSegment.requestParser` of an integration manifest (LaunchDarkly's schema). */
export interface RequestParser {
  environmentIdPath: string
  contextKindPath?: string
  cohortIdPath: string
  cohortNamePath: string
  cohortUrlPath?: string
  memberArrayPath?: string
  addMemberArrayPath?: string
  removeMemberArrayPath?: string
  arrayInclusion?: { path: string; matcher: string }
  memberArrayParser: {
    memberIdPath: string
    booleanMembershipPath?: string
    cohortNamePath?: string
    cohortIdPath?: string
  }
}

export interface SyncedSegmentCapability {
  requestParser: RequestParser
  jsonResponseBody?: string
}

export interface IntegrationManifest {
  integrationKey?: string
  name?: string
  capabilities: { syncedSegment: SyncedSegmentCapability }
}

/** What a `jsonResponseBody` template is rendered with (§B3). */
export interface ResponseContext {
  requestBody: unknown
  statusCode: number
  /** Empty on success. */
  errorMessage: string
  projectKey: string
  environmentKey: string
  segmentKey: string
  segmentUrl: string
}

/** One cohort's changes parsed from one request, last operation per context key kept. */
export interface ParsedCohort {
  cohortId: string
  cohortName: string
  cohortUrl?: string
  ops: MembershipOp[]
}

/** What a request body means, independent of any store. */
export interface ParsedRequest {
  environmentId: string
  contextKind: string
  /** In order of first appearance. */
  cohorts: ParsedCohort[]
}
