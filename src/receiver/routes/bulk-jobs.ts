/**
 * What the import and export routes (§B7) share: the scope check of the environment in the path
 * and the paths of a segment's jobs, which their `Location` headers and `_links` carry.
 */
import type { FastifyRequest } from 'fastify'
import { NotFoundError } from '../../errors'
import type { EnvironmentRef } from '../../store/types'
import { requireAction } from '../auth'
import type { Action } from '../config'
import type { ReceiverContext } from './context'

export interface SegmentParams {
  projectKey: string
  environmentKey: string
  segmentKey: string
}

/** The environment of the path, once the token may do `action` in it (scope before existence). */
export function environmentFor(
  ctx: ReceiverContext,
  request: FastifyRequest,
  action: Action
): EnvironmentRef {
  const { projectKey, environmentKey } = request.params as SegmentParams
  if (!request.principal) throw new Error('the authorize hook did not run')
  requireAction(request.principal, action, projectKey, environmentKey)
  const env = ctx.environmentsByPath.get(`${projectKey}/${environmentKey}`)
  if (!env) throw new NotFoundError(`unknown environment ${projectKey}/${environmentKey}`)
  return env
}

/** `/api/v2/segments/<project>/<environment>/<segment>/<kind>/<id>`, each part encoded. */
export function jobPath(
  env: EnvironmentRef,
  segmentKey: string,
  kind: 'imports' | 'exports',
  id: string
): string {
  const parts = [env.projectKey, env.environmentKey, segmentKey, kind, id].map(encodeURIComponent)
  return `/api/v2/segments/${parts.join('/')}`
}

/** Work that outlives its request (applying an import, measuring an export), awaited on close. */
export class BackgroundJobs {
  private readonly running = new Set<Promise<unknown>>()

  run(job: Promise<unknown>, onError: (error: unknown) => void): void {
    const tracked = job.catch(onError).finally(() => this.running.delete(tracked))
    this.running.add(tracked)
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.running])
  }
}
