/**
 * Where requests go: LaunchDarkly's hosted instances, or one base URL (a local receiver, a proxy)
 * that serves both the REST API and the client-side SDK check.
 */
export type Instance = 'us' | 'eu' | 'federal'

export interface Endpoints {
  /** Base of the REST API (`{api}/api/v2/...`). */
  api: string
  /** Base of the client-side SDK service (`{clientsdk}/sdk/goals/{clientId}`). */
  clientsdk: string
}

export const INSTANCE_ENDPOINTS: Readonly<Record<Instance, Endpoints>> = {
  us: { api: 'https://app.launchdarkly.com', clientsdk: 'https://clientsdk.launchdarkly.com' },
  eu: { api: 'https://app.eu.launchdarkly.com', clientsdk: 'https://clientsdk.eu.launchdarkly.com' },
  federal: { api: 'https://app.launchdarkly.us', clientsdk: 'https://clientsdk.launchdarkly.us' }
}

export const SEGMENT_AUDIENCES_PATH = '/api/v2/segment-targets/segment-audiences'

export class InvalidEndpointError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidEndpointError'
  }
}

function isInstance(value: string): value is Instance {
  return Object.prototype.hasOwnProperty.call(INSTANCE_ENDPOINTS, value)
}

/**
 * `apiBaseUrl` wins over `instance`; an empty `apiBaseUrl` counts as unset because Segment's
 * settings form sends '' for a cleared optional field.
 */
export function resolveEndpoints(settings: { instance?: string; apiBaseUrl?: string }): Endpoints {
  const override = settings.apiBaseUrl?.trim()
  if (override) {
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
  const instance = settings.instance || 'us'
  if (!isInstance(instance)) {
    throw new InvalidEndpointError(`instance must be one of us, eu, federal; got "${instance}"`)
  }
  return INSTANCE_ENDPOINTS[instance]
}
