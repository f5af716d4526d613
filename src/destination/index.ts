import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  defaultValues,
  InvalidAuthenticationError,
  type DestinationDefinition,
  type RequestClient
} from '@segment/actions-core'
import { resolveEndpoints } from './endpoints'
import { useUriSafeSchemaKeys } from './schema-keys'
import type { Settings } from './generated-types'
import syncAudience from './syncAudience'

// The destination's name is not a URI; see schema-keys.ts for why actions-core's ajv needs this.
useUriSafeSchemaKeys()

/** LaunchDarkly REST API version this destination is written against. */
export const LD_API_VERSION = '20240415'

// package.json sits two levels up from both src/destination and dist/destination; reading it
// (rather than importing) keeps it out of the compiled tree.
const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  version: string
}
export const USER_AGENT = `synced-segments/${version}`

type Check = { status: number } | { unreachable: string }

async function probe(request: RequestClient, url: string, method: 'HEAD' | 'GET'): Promise<Check> {
  try {
    const response = await request(url, { method, throwHttpErrors: false })
    return { status: response.status }
  } catch (error) {
    return { unreachable: error instanceof Error ? error.message : String(error) }
  }
}

function where(settings: Settings): string {
  return settings.apiBaseUrl?.trim() ? 'apiBaseUrl' : 'instance'
}

/** Both checks run in parallel; every failing one is named so the user knows which setting to fix. */
async function testAuthentication(request: RequestClient, settings: Settings): Promise<void> {
  const { api, clientsdk } = resolveEndpoints(settings)
  const clientIdUrl = `${clientsdk}/sdk/goals/${encodeURIComponent(settings.clientId)}`
  const tokenUrl = `${api}/api/v2/versions`
  const [clientIdCheck, tokenCheck] = await Promise.all([
    probe(request, clientIdUrl, 'HEAD'),
    probe(request, tokenUrl, 'GET')
  ])

  const problems: string[] = []
  if ('unreachable' in clientIdCheck) {
    problems.push(`${where(settings)}: could not reach ${clientIdUrl} (${clientIdCheck.unreachable})`)
  } else if (clientIdCheck.status === 404) {
    problems.push(`clientId: no LaunchDarkly environment has the client-side ID "${settings.clientId}"`)
  } else if (clientIdCheck.status < 200 || clientIdCheck.status >= 300) {
    problems.push(`clientId: could not be checked, HEAD ${clientIdUrl} answered ${clientIdCheck.status}`)
  }
  if ('unreachable' in tokenCheck) {
    problems.push(`${where(settings)}: could not reach ${tokenUrl} (${tokenCheck.unreachable})`)
  } else if (tokenCheck.status === 401 || tokenCheck.status === 403) {
    problems.push(`apiKey: LaunchDarkly rejected the service token (${tokenCheck.status})`)
  } else if (tokenCheck.status < 200 || tokenCheck.status >= 300) {
    problems.push(`apiKey: could not be checked, GET ${tokenUrl} answered ${tokenCheck.status}`)
  }
  if (problems.length > 0) throw new InvalidAuthenticationError(problems.join('; '))
}

export const destination: DestinationDefinition<Settings> = {
  name: 'LaunchDarkly Audiences',
  slug: 'actions-launchdarkly-audiences',
  mode: 'cloud',
  description: 'Sync Segment Engage audiences to LaunchDarkly synced segments.',

  authentication: {
    scheme: 'custom',
    fields: {
      apiKey: {
        label: 'LaunchDarkly service token',
        description:
          'A LaunchDarkly service token allowed the createSegment and updateIncluded role actions. We recommend a token dedicated to this destination.',
        type: 'password',
        required: true
      },
      clientId: {
        label: 'LaunchDarkly client-side ID',
        description:
          'The client-side ID of the environment to sync segments into, from the LaunchDarkly Account settings page of your project.',
        type: 'string',
        required: true
      },
      instance: {
        label: 'LaunchDarkly instance',
        description: 'The LaunchDarkly instance that hosts your account.',
        type: 'string',
        choices: [
          { label: 'US (app.launchdarkly.com)', value: 'us' },
          { label: 'EU (app.eu.launchdarkly.com)', value: 'eu' },
          { label: 'Federal (app.launchdarkly.us)', value: 'federal' }
        ],
        default: 'us'
      },
      apiBaseUrl: {
        label: 'API base URL',
        description:
          'Optional absolute http(s) URL that replaces the instance for every request, for example a local synced-segments receiver.',
        type: 'string'
      }
    },
    testAuthentication: (request, { settings }) => testAuthentication(request, settings)
  },

  extendRequest({ settings }) {
    return {
      headers: {
        // LaunchDarkly takes the raw token, without a scheme.
        Authorization: settings.apiKey,
        'Content-Type': 'application/json',
        'LD-API-Version': LD_API_VERSION,
        'User-Agent': USER_AGENT
      }
    }
  },

  presets: [
    {
      name: 'Sync Engage Audience to LaunchDarkly',
      type: 'automatic',
      subscribe: 'type = "identify" or type = "track"',
      partnerAction: 'syncAudience',
      mapping: defaultValues(syncAudience.fields)
    }
  ],

  actions: {
    syncAudience
  }
}

export default destination
