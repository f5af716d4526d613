/**
 * The package as a user installs it: `npm run build` output, not the TypeScript sources. The
 * compiled `destination` export runs under actions-core's own `Destination` runner against the
 * compiled receiver on a real socket, and the compiled command starts.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Destination, type JSONObject } from '@segment/actions-core'

const run = promisify(execFile)
const ROOT = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string
  main: string
  types: string
  bin: Record<string, string>
}

// The compiled modules' shapes, as much of them as this test uses.
interface Built {
  destination: ConstructorParameters<typeof Destination>[0]
  createReceiver(options: { dataDir: string }): Promise<{
    app: { listen(o: { port: number; host: string }): Promise<string>; server: { address(): unknown } }
    credentials: { clientSideId: string; token: string; projectKey: string; environmentKey: string }
    close(): Promise<void>
  }>
}

let built: Built
let dataDir: string

beforeAll(async () => {
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT })
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  built = require(join(ROOT, pkg.main)) as Built
  dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-package-'))
}, 120_000)

afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

describe('the built package', () => {
  it('declares main, types and bin that exist after the build', async () => {
    expect(pkg.main).toBe('dist/index.js')
    expect(readFileSync(join(ROOT, pkg.types), 'utf8')).toMatch(/destination/)
    const bin = join(ROOT, pkg.bin['synced-segments'])
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true)
    const { stdout } = await run(process.execPath, [bin, '--version'])
    expect(stdout.trim()).toBe(pkg.version)
    const list = await run(process.execPath, [bin, 'integrations', 'list'])
    expect(list.stdout).toMatch(/segment-audiences/)
  })

  it('runs the compiled destination through Destination.onBatch and testAuthentication against the compiled receiver', async () => {
    const receiver = await built.createReceiver({ dataDir })
    try {
      await receiver.app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = receiver.app.server.address() as AddressInfo
      const baseUrl = `http://127.0.0.1:${port}`
      const { token, clientSideId, projectKey, environmentKey } = receiver.credentials
      const settings = { apiKey: token, clientId: clientSideId, apiBaseUrl: baseUrl }

      const runner = new Destination(built.destination)
      await expect(runner.testAuthentication(settings)).resolves.toBeUndefined()
      await expect(runner.testAuthentication({ ...settings, clientId: 'not-an-environment' })).rejects.toThrow(/clientId/)

      const preset = built.destination.presets?.find((p) => p.type === 'automatic')
      if (!preset || preset.type !== 'automatic') throw new Error('the destination has no automatic preset')
      const personas = { computation_class: 'audience', computation_id: 'aud_pkg', computation_key: 'package_test' }
      const events = [
        { type: 'identify', userId: 'ada', traits: { package_test: true }, context: { personas } },
        { type: 'track', event: 'Audience Entered', userId: 'bob', properties: { package_test: true }, context: { personas } },
        { type: 'identify', userId: 'cy', traits: { package_test: 'true' }, context: { personas } }
      ] as unknown as JSONObject[]
      const subscription = {
        name: preset.name,
        partnerAction: preset.partnerAction,
        subscribe: preset.subscribe,
        mapping: preset.mapping
      }
      const results = await runner.onBatch(events as never, { ...settings, subscriptions: [subscription] } as never)
      const statuses = (results as unknown as { multistatus?: { status: number }[] }[])
        .flatMap((r) => r.multistatus ?? [])
        .map((entry) => entry.status)
      expect(statuses).toEqual([204, 204, 400])

      const segment = await fetch(`${baseUrl}/api/v2/segments/${projectKey}/${environmentKey}/segment-audiences-aud_pkg`, {
        headers: { Authorization: token }
      })
      expect(segment.status).toBe(200)
      expect(await segment.json()).toMatchObject({ name: 'Package test', includedCount: 2, unboundedContextKind: 'user' })
    } finally {
      await receiver.close()
    }
  })
})
