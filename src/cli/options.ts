/** Option parsers and error wording shared by the commands that talk to a receiver over HTTP. */
import { InvalidArgumentError } from 'commander'

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

const NETWORK_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed'
}

/** Why fetch failed, in words: undici says only "fetch failed" and keeps the reason in `cause`. */
export function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  if (cause?.code && NETWORK_CAUSES[cause.code]) return NETWORK_CAUSES[cause.code]
  return cause?.message ?? (error instanceof Error ? error.message : String(error))
}
