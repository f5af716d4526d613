/**
 * What every route plugin is registered with: the store, the compiled integrations and the
 * configuration turned into lookup tables once at start, so no request reads disk or scans lists.
 */
import type { FastifyRequest } from 'fastify'
import type { EnvironmentRef, SegmentStore } from '../../store/types'
import { type Principal, RateLimiter, TokenAuthority } from '../auth'
import type { ReceiverConfig } from '../config'
import type { CompiledIntegration } from '../integrations'

/** The content type of every JSON answer the receiver writes itself (errors, rendered templates, streams). */
export const JSON_TYPE = 'application/json; charset=utf-8'

/** What a segment-targets request has resolved so far; an error's jsonResponseBody is rendered from it. */
export interface SyncState {
  projectKey: string
  environmentKey: string
  segmentKey: string
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
    /** Set on segment-targets routes once the integration key resolves. */
    integration: CompiledIntegration | null
    sync: SyncState | null
  }
}

export interface ReceiverContext {
  store: SegmentStore
  /** Keyed by lower-cased integration key. */
  integrations: Map<string, CompiledIntegration>
  config: ReceiverConfig
  authority: TokenAuthority
  rateLimiter: RateLimiter | undefined
  environmentsByClientSideId: Map<string, EnvironmentRef>
  /** Keyed by `project/environment`. */
  environmentsByPath: Map<string, EnvironmentRef>
}

export function createContext(store: SegmentStore, integrations: Map<string, CompiledIntegration>, config: ReceiverConfig): ReceiverContext {
  const environmentsByClientSideId = new Map<string, EnvironmentRef>()
  const environmentsByPath = new Map<string, EnvironmentRef>()
  for (const project of config.projects) {
    for (const env of project.environments) {
      const ref: EnvironmentRef = { projectKey: project.key, environmentKey: env.key }
      if (env.redisPrefix !== undefined) ref.redisPrefix = env.redisPrefix
      environmentsByClientSideId.set(env.clientSideId, ref)
      environmentsByPath.set(`${project.key}/${env.key}`, ref)
    }
  }
  return {
    store,
    integrations,
    config,
    authority: new TokenAuthority(config.tokens),
    rateLimiter: config.rateLimit ? new RateLimiter(config.rateLimit) : undefined,
    environmentsByClientSideId,
    environmentsByPath
  }
}

/** Token (403) then rate limit (429); the principal is kept on the request for the scope checks. */
export function authorize(ctx: ReceiverContext, request: FastifyRequest): Principal {
  const principal = ctx.authority.authenticate(request.headers.authorization)
  ctx.rateLimiter?.hit(principal.name)
  request.principal = principal
  return principal
}
