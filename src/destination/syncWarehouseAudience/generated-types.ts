// Generated file. DO NOT MODIFY IT BY HAND.

export interface Payload {
  /**
   * Which LaunchDarkly synced segment the row belongs to: type a constant to sync the whole model into one segment, or map a column to let each row name its segment. LaunchDarkly keys the segment `segment-audiences-<cohort ID>`.
   */
  cohort_id: string
  /**
   * The synced segment's name in LaunchDarkly, a constant or a column, shown the way Segment's destination shows audience names (first character upper-cased, `_` as a space). A later sync renames the segment.
   */
  cohort_name: string
  /**
   * The column that holds each row's LaunchDarkly context key, for example the user ID. There is no fallback: a row whose column is missing or empty is rejected, never sent.
   */
  context_key: string
  /**
   * The LaunchDarkly context kind of the keys (a constant such as `user`, or a column). A segment's context kind is fixed when it is created. See [Context kinds](https://docs.launchdarkly.com/home/contexts/context-kinds).
   */
  context_kind: string
  /**
   * What happened to the row since the last sync (`new`, `updated` or `deleted`), named in rejections. This field should not need to be edited.
   */
  retl_event_name?: string
  /**
   * When enabled, rows are sent to LaunchDarkly in batches. In most cases, batching should be enabled.
   */
  enable_batching?: boolean
  /**
   * Maximum number of events in one batch, and so of audience members in one request to LaunchDarkly, from 1 to 10000. Segment's platform reads this field to size the batches it hands to the action.
   */
  batch_size?: number
}
