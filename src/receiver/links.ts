/**
 * Where a person sees a segment: its page in the web console (§G). The one definition of that
 * path, shared by `segmentUrl` in partners' `jsonResponseBody`, `_links.site` in the REST API and
 * the console's own routes.
 */

/** Mount point of the web console. */
export const CONSOLE_PREFIX = '/console'

/** The console page of one segment, as a path (`/console/<project>/<environment>/segments/<key>`). */
export function consoleSegmentPath(projectKey: string, environmentKey: string, segmentKey: string): string {
  return `${CONSOLE_PREFIX}/${encodeURIComponent(projectKey)}/${encodeURIComponent(environmentKey)}/segments/${encodeURIComponent(segmentKey)}`
}
