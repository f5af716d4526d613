/**
 * Where requests go: LaunchDarkly, or one base URL (a local receiver, a proxy) that serves both the
 * REST API and the client-side-ID check. LaunchDarkly's EU and federal instances offer no synced
 * segments, so there is nothing else to choose.
 */
import { CONSTANTS } from './constants'

export interface Endpoints {
  /** Base of the REST API (`{api}/api/v2/...`). */
  api: string
  /** Base of the client-side SDK service (`{clientsdk}/sdk/goals/{clientId}`). */
  clientsdk: string
}

export const LAUNCHDARKLY_ENDPOINTS: Readonly<Endpoints> = {
  api: CONSTANTS.LD_APP_URL,
  clientsdk: CONSTANTS.LD_CLIENT_SDK_BASE_URL
}

export class InvalidEndpointError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidEndpointError'
  }
}

/** An empty `apiBaseUrl` counts as unset: Segment's settings form sends '' for a cleared optional field. */
export function resolveEndpoints(settings: { apiBaseUrl?: string }): Endpoints {
  const override = settings.apiBaseUrl?.trim()
  if (!override) return LAUNCHDARKLY_ENDPOINTS
  let url: URL
  try {
    url = new URL(override)
  } catch {
    throw new InvalidEndpointError(`apiBaseUrl must be an absolute http(s) URL, got "${override}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidEndpointError(`apiBaseUrl must be an absolute http(s) URL, got "${override}"`)
  }
  if (url.search || url.hash) {
    throw new InvalidEndpointError(`apiBaseUrl must not carry a query or fragment, got "${override}"`)
  }
  // Keep a path prefix (a proxy mounted under /ld) but never a trailing slash: paths are appended.
  const base = `${url.origin}${url.pathname}`.replace(/\/+$/, '')
  return { api: base, clientsdk: base }
}
