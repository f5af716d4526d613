/**
 * testAuthentication: the client-side-ID check and the token check, in parallel. Every failing one
 * is named, so the user knows which setting to fix.
 */
import { InvalidAuthenticationError, type RequestClient } from '@segment/actions-core'
import { VERSIONS_PATH } from './constants'
import type { Settings } from './generated-types'
import { InvalidEndpointError, resolveEndpoints, type Endpoints } from './hosts'

type Check = { status: number } | { unreachable: string }

async function probe(request: RequestClient, url: string, method: 'HEAD' | 'GET'): Promise<Check> {
  try {
    const response = await request(url, { method, throwHttpErrors: false })
    return { status: response.status }
  } catch (error) {
    return { unreachable: error instanceof Error ? error.message : String(error) }
  }
}

function endpointsOf(settings: Settings): Endpoints {
  try {
    return resolveEndpoints(settings)
  } catch (error) {
    if (error instanceof InvalidEndpointError) throw new InvalidAuthenticationError(error.message)
    throw error
  }
}

export async function testAuthentication(request: RequestClient, settings: Settings): Promise<void> {
  const { api, clientsdk } = endpointsOf(settings)
  const clientIdUrl = `${clientsdk}/sdk/goals/${encodeURIComponent(settings.clientId)}`
  const tokenUrl = api + VERSIONS_PATH
  const [clientIdCheck, tokenCheck] = await Promise.all([
    probe(request, clientIdUrl, 'HEAD'),
    probe(request, tokenUrl, 'GET')
  ])

  // An unreachable default host is the network's fault, not a setting's: name apiBaseUrl only when set.
  const unreachable = settings.apiBaseUrl?.trim() ? 'apiBaseUrl: could not reach' : 'could not reach'
  const problems: string[] = []
  if ('unreachable' in clientIdCheck) {
    problems.push(`${unreachable} ${clientIdUrl} (${clientIdCheck.unreachable})`)
  } else if (clientIdCheck.status === 404) {
    problems.push(`clientId: no LaunchDarkly environment has the client-side ID "${settings.clientId}"`)
  } else if (clientIdCheck.status < 200 || clientIdCheck.status >= 300) {
    problems.push(`clientId: could not be checked, HEAD ${clientIdUrl} answered ${clientIdCheck.status}`)
  }
  if ('unreachable' in tokenCheck) {
    problems.push(`${unreachable} ${tokenUrl} (${tokenCheck.unreachable})`)
  } else if (tokenCheck.status === 401 || tokenCheck.status === 403) {
    problems.push(`apiKey: LaunchDarkly rejected the service token (${tokenCheck.status})`)
  } else if (tokenCheck.status < 200 || tokenCheck.status >= 300) {
    problems.push(`apiKey: could not be checked, GET ${tokenUrl} answered ${tokenCheck.status}`)
  }
  if (problems.length > 0) throw new InvalidAuthenticationError(problems.join('; '))
}
