/** What every segments route does first: the token's scope for the environment in the path, and the 404s. */
import type { FastifyRequest } from 'fastify'
import { NotFoundError } from '../../errors'
import type { EnvironmentRef } from '../../store/types'
import { requireAction } from '../auth'
import type { Action } from '../config'
import type { ReceiverContext } from './context'

interface EnvParams {
  projectKey: string
  environmentKey: string
}

/**
 * The environment of a segments route after the scope check for `action` (403 first, then 404 for
 * an unknown environment). The routes' token hook must have run.
 */
export function environmentFor(
  ctx: ReceiverContext,
  request: FastifyRequest,
  action: Action
): EnvironmentRef {
  const { projectKey, environmentKey } = request.params as EnvParams
  if (!request.principal) throw new Error('segments hook did not run')
  requireAction(request.principal, action, projectKey, environmentKey)
  const env = ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`)
  if (!env) throw new NotFoundError(`unknown environment ${projectKey}/${environmentKey}`)
  return env
}

export function segmentNotFound(env: EnvironmentRef, segmentKey: string): NotFoundError {
  return new NotFoundError(
    `no segment ${JSON.stringify(segmentKey)} in ${env.projectKey}/${env.environmentKey}`
  )
}
