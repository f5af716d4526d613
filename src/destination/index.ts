import { defaultValues, type DestinationDefinition } from '@segment/actions-core'
import { testAuthentication } from './authentication'
import { LD_API_VERSION, USER_AGENT } from './constants'
import { useUriSafeSchemaKeys } from './schema-keys'
import type { Settings } from './generated-types'
import syncAudience from './syncAudience'
import syncWarehouseAudience from './syncWarehouseAudience'

export { LD_API_VERSION, USER_AGENT } from './constants'

// The destination's name is not a URI; see schema-keys.ts for why actions-core's ajv needs this.
useUriSafeSchemaKeys()

/**
 * Settings, labels and field keys are those of Segment's LaunchDarkly Audiences destination, so a
 * workspace moves from it unchanged; `apiBaseUrl` is ours (a self-hosted receiver or a proxy).
 */
export const destination: DestinationDefinition<Settings> = {
  name: 'LaunchDarkly Audiences',
  slug: 'actions-launchdarkly-audiences',
  mode: 'cloud',
  description:
    'Sync [Segment Audiences](https://segment.com/docs/engage/audiences/) to LaunchDarkly [Big Segments](https://docs.launchdarkly.com/home/contexts/big-segments).',

  authentication: {
    scheme: 'custom',
    fields: {
      apiKey: {
        label: 'LaunchDarkly Service Token',
        description:
          'We recommend creating a dedicated [LaunchDarkly service token](https://docs.launchdarkly.com/home/account-security/api-access-tokens#service-tokens) for this destination. The service token must have the ability to perform the `createSegment` and `updateIncluded` [role actions](https://docs.launchdarkly.com/home/members/role-actions#segment-actions).',
        type: 'password',
        required: true
      },
      clientId: {
        label: 'LaunchDarkly client-side ID',
        description:
          'Copy the [client-side ID](https://app.launchdarkly.com/settings/projects) of the environment for your segment. You can find this in the LaunchDarkly **Account settings** page for your project.',
        type: 'string',
        required: true
      },
      apiBaseUrl: {
        label: 'API base URL',
        description:
          'Optional. An absolute http(s) URL that replaces LaunchDarkly for every request, for example a self-hosted synced-segments receiver. The service token is sent to this host: set it only to a server you trust. Leave it empty to send to LaunchDarkly.',
        type: 'string',
        format: 'uri'
      }
    },
    testAuthentication: (request, { settings }) => testAuthentication(request, settings)
  },

  extendRequest({ settings }) {
    // The four headers Segment's destination sends, with the same values.
    return {
      headers: {
        'User-Agent': USER_AGENT,
        'Content-Type': 'application/json',
        // LaunchDarkly takes the raw token, without a scheme.
        Authorization: settings.apiKey,
        'LD-API-Version': LD_API_VERSION
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
    syncAudience,
    syncWarehouseAudience
  }
}

export default destination
