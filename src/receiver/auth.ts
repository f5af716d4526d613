/**
 * Access tokens: constant-time lookup, action and environment scopes, and a per-token rate limit.
 * Pure logic — the routes call it from their hooks. Token values are kept only as digests and never
 * appear in errors or logs.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { ForbiddenError, HttpError } from '../errors'
import type { Action, RateLimitConfig, TokenConfig } from './config'

/** An authenticated token, without its secret. */
export interface Principal {
  name: string
  actions: ReadonlySet<Action> | '*'
  environments: ReadonlySet<string> | '*'
}

interface StoredToken {
  digest: Buffer
  principal: Principal
}

export class TooManyRequestsError extends HttpError {
  constructor(
    readonly resetAt: number,
    readonly retryAfterSeconds: number
  ) {
    super(429, 'rate_limited', `rate limit exceeded; retry after ${retryAfterSeconds} s`)
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/** The token of an `Authorization` header: the raw token, as LaunchDarkly sends it, or `Bearer <token>`. */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const value = header.trim()
  const bearer = /^bearer\s+(\S+)$/i.exec(value)
  const token = bearer ? bearer[1] : value
  return token === '' ? undefined : token
}

export class TokenAuthority {
  private readonly tokens: StoredToken[]

  constructor(tokens: TokenConfig[]) {
    this.tokens = tokens.map((t) => ({
      digest: digest(t.token),
      principal: {
        name: t.name,
        actions: t.actions === '*' ? '*' : new Set(t.actions),
        environments: t.environments === '*' ? '*' : new Set(t.environments)
      }
    }))
  }

  /**
   * The principal of a header, or undefined. Digests have a fixed length, and every stored token
   * is compared without an early exit, so timing reveals neither a token's prefix nor which matched.
   */
  lookup(authorization: string | undefined): Principal | undefined {
    const token = tokenFromHeader(authorization)
    if (token === undefined) return undefined
    const presented = digest(token)
    let found: Principal | undefined
    for (const stored of this.tokens) {
      if (timingSafeEqual(stored.digest, presented) && found === undefined) found = stored.principal
    }
    return found
  }

  /** Like `lookup`, but a missing or unknown token is a 403. */
  authenticate(authorization: string | undefined): Principal {
    const principal = this.lookup(authorization)
    if (!principal) throw new ForbiddenError('missing or invalid access token', 'unauthorized')
    return principal
  }
}

export function can(principal: Principal, action: Action, projectKey: string, environmentKey: string): boolean {
  const actionAllowed = principal.actions === '*' || principal.actions.has(action)
  const envAllowed = principal.environments === '*' || principal.environments.has(`${projectKey}/${environmentKey}`)
  return actionAllowed && envAllowed
}

/** Throws a 403 naming the action and environment when the token lacks them. */
export function requireAction(principal: Principal, action: Action, projectKey: string, environmentKey: string): void {
  if (!can(principal, action, projectKey, environmentKey)) {
    throw new ForbiddenError(`the access token may not ${action} in ${projectKey}/${environmentKey}`)
  }
}

/**
 * Fixed-window counter per token. Windows are aligned to multiples of `windowMs`, so the reset
 * time is the same for every request of a window and cheap to compute.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()

  constructor(private readonly limit: RateLimitConfig) {}

  /** Counts one request; throws TooManyRequestsError when the token's window is full. */
  hit(tokenName: string, now = Date.now()): void {
    const start = now - (now % this.limit.windowMs)
    let window = this.windows.get(tokenName)
    if (!window || window.start !== start) {
      window = { start, count: 0 }
      this.windows.set(tokenName, window)
    }
    window.count += 1
    if (window.count > this.limit.max) {
      const resetAt = start + this.limit.windowMs
      throw new TooManyRequestsError(resetAt, Math.max(1, Math.ceil((resetAt - now) / 1000)))
    }
  }
}
