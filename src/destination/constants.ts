/**
 * Hosts, paths and header values, as literals: the destination folder reads nothing from disk, so it
 * runs unchanged inside segmentio/action-destinations. `CONSTANTS` keeps the names that repository's
 * LaunchDarkly Audiences tests import.
 */

/** LaunchDarkly REST API version this destination is written against. */
export const LD_API_VERSION = '20240415'

/** What Segment's own LaunchDarkly Audiences destination sends; LaunchDarkly may tell the integration's traffic apart by it. */
export const USER_AGENT = 'SegmentSyncAudiences/1.1.0'

const LD_APP_URL = 'https://app.launchdarkly.com'
const API_PATH = '/api/v2'
const SEGMENT_AUDIENCES_ENDPOINT = '/segment-targets/segment-audiences'

export const CONSTANTS = {
  LD_CLIENT_SDK_BASE_URL: 'https://clientsdk.launchdarkly.com',
  LD_APP_URL,
  LD_API_BASE_URL: LD_APP_URL + API_PATH,
  LD_API_CUSTOM_AUDIENCE_ENDPOINT: SEGMENT_AUDIENCES_ENDPOINT,
  ADD: 'ADD',
  REMOVE: 'REMOVE'
} as const

/** Below a base URL: where the destination posts memberships. */
export const SEGMENT_AUDIENCES_PATH = API_PATH + SEGMENT_AUDIENCES_ENDPOINT
/** Below a base URL: what testAuthentication asks with the token. */
export const VERSIONS_PATH = `${API_PATH}/versions`
