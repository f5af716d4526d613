/**
 * The console's session: a cookie signed by @fastify/cookie holding a random session id, the
 * fingerprint of the token that signed in and the expiry — never the token itself. The key is
 * derived from the configured tokens, so every receiver started with the same configuration
 * accepts the same sessions, and changing the tokens ends them all. Pure functions; the plugin
 * does the I/O.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'synced_segments_console'
/** Sessions end this long after sign-in. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000

export interface Session {
  id: string
  /** `tokenFingerprint` of the token used to sign in. */
  fingerprint: string
  /** Unix ms. */
  expiresAt: number
}

const BASE64URL = /^[A-Za-z0-9_-]+$/

/** The key that signs session cookies and derives CSRF tokens; random when no token is configured. */
export function sessionKey(tokens: ReadonlyArray<{ token: string }>): string {
  if (tokens.length === 0) return randomBytes(32).toString('base64url')
  const hmac = createHmac('sha256', 'synced-segments console session key')
  for (const { token } of [...tokens].sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0))) {
    hmac.update(`${token.length}:${token}`)
  }
  return hmac.digest('base64url')
}

/** What a session remembers of its token: a keyed digest, useless to anyone who reads it. */
export function tokenFingerprint(key: string, token: string): string {
  return createHmac('sha256', key).update(`token:${token}`).digest('base64url').slice(0, 22)
}

export function newSession(fingerprint: string, now: number): Session {
  return { id: randomBytes(16).toString('base64url'), fingerprint, expiresAt: now + SESSION_TTL_MS }
}

export function encodeSession(session: Session): string {
  return `${session.id}.${session.fingerprint}.${session.expiresAt}`
}

/** The session of an (already unsigned) cookie value; undefined when malformed or expired. */
export function decodeSession(value: string, now: number): Session | undefined {
  const parts = value.split('.')
  if (parts.length !== 3) return undefined
  const [id, fingerprint, expires] = parts
  if (!BASE64URL.test(id) || !BASE64URL.test(fingerprint) || !/^\d{1,15}$/.test(expires)) return undefined
  const expiresAt = Number(expires)
  if (expiresAt <= now) return undefined
  return { id, fingerprint, expiresAt }
}

/** The CSRF token of a session: every form of the session carries it, a POST must send it back. */
export function csrfToken(key: string, session: Session): string {
  return createHmac('sha256', key).update(`csrf:${session.id}`).digest('base64url')
}

export function validCsrfToken(key: string, session: Session, presented: unknown): boolean {
  if (typeof presented !== 'string') return false
  const expected = Buffer.from(csrfToken(key, session))
  const given = Buffer.from(presented)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * Whether a state-changing request comes from a console page: its `Origin` (or, when a browser
 * sends none, its `Referer`) must name the host the request was sent to, or the configured public
 * URL. A page on another port of the same host is another origin and is refused, which
 * `SameSite=Strict` alone would not do.
 */
export function sameOrigin(
  headers: { origin?: string; referer?: string; host?: string },
  publicUrl?: string
): boolean {
  const source = headers.origin ?? headers.referer
  if (source === undefined || source === 'null') return false
  let url: URL
  try {
    url = new URL(source)
  } catch {
    return false
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  if (headers.host !== undefined && url.host === hostOf(headers.host, url.protocol)) return true
  if (publicUrl === undefined) return false
  try {
    return new URL(publicUrl).origin === url.origin
  } catch {
    return false
  }
}

/** A Host header as `URL.host` writes it (lower case, the scheme's default port left out). */
function hostOf(host: string, protocol: string): string | undefined {
  try {
    return new URL(`${protocol}//${host}`).host
  } catch {
    return undefined
  }
}

/** Where to go after signing in: only a console path of this site, never another host. */
export function safeNext(next: unknown, prefix: string): string {
  if (
    typeof next !== 'string' ||
    !next.startsWith(`${prefix}/`) ||
    next.startsWith('//') ||
    /[\\\s]/.test(next)
  )
    return `${prefix}/`
  return next
}
