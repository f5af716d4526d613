/** Option parsers and error wording shared by the commands that talk to a receiver over HTTP. */
import { InvalidArgumentError } from 'commander'
import { networkCause } from '../network-cause'

/** `--base-url`: an absolute http(s) URL; `127.0.0.1:8787` alone would be read as a URL scheme. */
export function parseBaseUrl(value: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvalidArgumentError(
      `needs an http:// or https:// URL, e.g. http://${value.replace(/^[a-z]+:\/\//i, '')}`
    )
  }
  return value
}

/** Why fetch failed, in words: undici says only "fetch failed" and keeps the reason in `cause`. */
export function fetchFailureCause(error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause
  return networkCause(cause) ?? cause?.message ?? (error instanceof Error ? error.message : String(error))
}
