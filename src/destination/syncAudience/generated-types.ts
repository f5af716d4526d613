// Generated file. DO NOT MODIFY IT BY HAND: edit the field definitions and run `npm run generate-types`.

export interface Payload {
  /**
   * Segment Audience ID to which user identifier should be added or removed
   */
  segment_audience_id: string
  /**
   * Segment Audience key to which user identifier should be added or removed
   */
  segment_audience_key: string
  /**
   * Segment computation class used to determine if input event is from an Engage Audience. Value must be 'audience' or 'journey_step'.
   */
  segment_computation_action: 'audience' | 'journey_step'
  /**
   * The event's context kind. To learn more about context kinds and where you can find a list of context kinds LaunchDarkly has observed, read [Context kinds](https://docs.launchdarkly.com/home/contexts/context-kinds).
   */
  context_kind: string
  /**
   * The Segment userId value.
   */
  segment_user_id?: string
  /**
   * The Segment anonymousId value.
   */
  segment_anonymous_id?: string
  /**
   * The user's email address
   */
  user_email?: string
  /**
   * The unique LaunchDarkly context key, taken from the identifiers in this order. In most cases the Segment userId should be used.
   */
  context_key:
    | 'user_id_only'
    | 'user_id_then_email'
    | 'user_id_then_anonymousId'
    | 'user_id_then_email_then_anonymousId'
    | 'email_only'
  /**
   * A computed object for track and identify events. This field should not need to be edited.
   */
  traits_or_props: {
    [k: string]: unknown
  }
  /**
   * When enabled, the action will batch events before sending them to LaunchDarkly. In most cases, batching should be enabled.
   */
  enable_batching?: boolean
  /**
   * Indicates if the user will be added or removed from the Audience
   */
  audience_action?: string
  /**
   * Maximum number of audience members in one request to LaunchDarkly (1 to 10000).
   */
  batch_size?: number
}
