/**
 * JSON.parse reports a character offset ("… in JSON at position 42"); people edit files by line.
 * This turns the offset into a line and column, for messages about configuration and mapping files.
 */
export function describeJsonError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const at = /\s*in JSON at position (\d+)(?: \(line \d+ column \d+\))?/.exec(message)
  const offset = at ? Number(at[1]) : /Unexpected end of JSON input/.test(message) ? text.length : undefined
  const reason = at ? message.replace(at[0], '') : message
  if (offset === undefined) return reason
  const before = text.slice(0, offset).split('\n')
  return `line ${before.length}, column ${before[before.length - 1].length + 1}: ${reason}`
}

/** JSON.parse, throwing `<source>: not valid JSON: line L, column C: <reason>`. */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new Error(`${source}: not valid JSON: ${describeJsonError(text, error)}`)
  }
}
