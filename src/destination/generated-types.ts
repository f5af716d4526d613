// Generated file. DO NOT MODIFY IT BY HAND: edit the field definitions and run `npm run generate-types`.

export interface Settings {
  /**
   * A LaunchDarkly service token allowed the createSegment and updateIncluded role actions. We recommend a token dedicated to this destination.
   */
  apiKey: string
  /**
   * The client-side ID of the environment to sync segments into, from the LaunchDarkly Account settings page of your project.
   */
  clientId: string
  /**
   * The LaunchDarkly instance that hosts your account.
   */
  instance?: 'us' | 'eu' | 'federal'
  /**
   * Optional absolute http(s) URL that replaces the instance for every request, for example a local synced-segments receiver.
   */
  apiBaseUrl?: string
}
