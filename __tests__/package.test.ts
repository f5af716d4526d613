/**
 * The package as a user installs it (SPEC §D2). `npm pack` builds dist/ through `prepack`; the
 * tarball is installed into an empty project with npm's default resolution — where this
 * repository's package-lock does not apply — and the demo, `require('synced-segments')` and
 * actions-core's own `Destination` runner are run there. The repository's dist/ is checked too.
 *
 * Speed: the install reads npm's cache (`--prefer-offline`) and skips install scripts; the one
 * package that needs one, better-sqlite3, gets the binary this repository already compiled when
 * the versions agree (compiling it again takes about 3 minutes on 2 cores), else it is rebuilt.
 */
import { execFile } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { Destination, type JSONObject } from '@segment/actions-core'

const run = promisify(execFile)
const ROOT = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string
  main: string
  types: string
  bin: Record<string, string>
  license: string
}
const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund']
const SQLITE_BINARY = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')

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
let work: string
let consumer: string
let tarball: string
let installLog: string

function versionOf(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
}

/** better-sqlite3's native module for the consumer: this repository's build when it is the same version. */
async function provideSqliteBinary(): Promise<void> {
  const ours = join(ROOT, 'node_modules', 'better-sqlite3')
  const theirs = join(consumer, 'node_modules', 'better-sqlite3')
  if (existsSync(join(ROOT, SQLITE_BINARY)) && versionOf(ours) === versionOf(theirs)) {
    mkdirSync(dirname(join(consumer, SQLITE_BINARY)), { recursive: true })
    copyFileSync(join(ROOT, SQLITE_BINARY), join(consumer, SQLITE_BINARY))
  } else {
    await run('npm', ['rebuild', 'better-sqlite3', ...NPM_QUIET], { cwd: consumer })
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'synced-segments-package-'))
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT })
  const [{ filename }] = JSON.parse(packed.stdout) as { filename: string }[]
  tarball = join(work, filename)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  built = require(join(ROOT, pkg.main)) as Built

  consumer = join(work, 'consumer')
  mkdirSync(consumer)
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true })
  )
  const installed = await run('npm', ['install', tarball, '--ignore-scripts', ...NPM_QUIET], {
    cwd: consumer
  })
  installLog = installed.stdout + installed.stderr
  await provideSqliteBinary()
}, 600_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('the tarball installed into an empty project', () => {
  const installedPackage = (): string => join(consumer, 'node_modules', 'synced-segments')

  it('ships dist/, the LICENSE and source maps that carry their sources, and installs without engine warnings', () => {
    const root = installedPackage()
    expect(existsSync(join(root, pkg.main))).toBe(true)
    expect(existsSync(join(root, pkg.bin['synced-segments']))).toBe(true)
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License/)
    expect(pkg.license).toBe('MIT')
    // Of src/ only the console's templates and browser assets ship (dist/ reads them there); no
    // TypeScript source does: the source maps carry it.
    const shippedSources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
    expect(shippedSources.filter((f) => f.endsWith('.ts'))).toEqual([])
    expect(shippedSources).toContain(join('console', 'views', 'segment.eta'))
    const maps = readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.map')
    )
    expect(maps.length).toBeGreaterThan(10)
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(root, 'dist', map), 'utf8')) as {
        sources: string[]
        sourcesContent?: string[]
      }
      expect(sourcesContent).toHaveLength(sources.length)
    }
    expect(installLog).not.toMatch(/EBADENGINE/)
  })

  it('runs `npx synced-segments demo` to the end', async () => {
    const { stdout } = await run('npx', ['--no-install', 'synced-segments', 'demo'], {
      cwd: consumer,
      timeout: 120_000
    })
    expect(stdout).toMatch(/segment-audiences-/)
    expect(stdout).toMatch(/(\d+)\/\1 checks passed/)
  }, 150_000)

  it("validates settings and delivers an event under actions-core's Destination runner, with npm's fast-uri", async () => {
    // Written into the consumer so that every require resolves from its node_modules, not ours.
    const script = join(consumer, 'runner-check.js')
    writeFileSync(
      script,
      `const { dirname } = require('node:path')
const { mkdtempSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { Destination } = require('@segment/actions-core')
const { destination, createReceiver } = require('synced-segments')
const ajv = dirname(require.resolve('ajv', { paths: [dirname(require.resolve('@segment/actions-core'))] }))
const fastUri = require(require.resolve('fast-uri/package.json', { paths: [ajv] })).version

async function main() {
  const receiver = await createReceiver({ dataDir: mkdtempSync(require('node:path').join(tmpdir(), 'consumer-')) })
  try {
    await receiver.app.listen({ port: 0, host: '127.0.0.1' })
    const { token, clientSideId, projectKey, environmentKey } = receiver.credentials
    const baseUrl = 'http://127.0.0.1:' + receiver.app.server.address().port
    const settings = { apiKey: token, clientId: clientSideId, apiBaseUrl: baseUrl }
    const runner = new Destination(destination)
    runner.validateSettings(settings)
    await runner.testAuthentication(settings)
    const preset = destination.presets.find((p) => p.type === 'automatic')
    const subscription = { name: preset.name, partnerAction: preset.partnerAction, subscribe: preset.subscribe, mapping: preset.mapping }
    const personas = { computation_class: 'audience', computation_id: 'aud_consumer', computation_key: 'consumer_check' }
    const event = { type: 'identify', userId: 'ada', traits: { consumer_check: true }, context: { personas } }
    await runner.onEvent(event, { ...settings, subscriptions: [subscription] })
    const response = await fetch(baseUrl + '/api/v2/segments/' + projectKey + '/' + environmentKey + '/segment-audiences-aud_consumer', {
      headers: { Authorization: token }
    })
    console.log(JSON.stringify({ name: destination.name, fastUri, status: response.status, segment: await response.json() }))
  } finally {
    await receiver.close()
  }
}
main().catch((error) => { console.error(error); process.exitCode = 1 })
`
    )
    const { stdout } = await run(process.execPath, [script], { cwd: consumer })
    const result = JSON.parse(stdout) as { name: string; fastUri: string; status: number; segment: unknown }
    expect(result.name).toBe('LaunchDarkly Audiences')
    // 3.1.6 is the first fast-uri whose serialize rejects 'LaunchDarkly Audiences' as a URI scheme.
    const [major, minor, patch] = result.fastUri.split('.').map(Number)
    expect(major > 3 || (major === 3 && (minor > 1 || (minor === 1 && patch >= 6)))).toBe(true)
    expect(result.status).toBe(200)
    expect(result.segment).toMatchObject({ name: 'Consumer check', includedCount: 1 })
  })
})

describe("the repository's own build", () => {
  let dataDir: string
  beforeAll(() => (dataDir = mkdtempSync(join(work, 'data-'))))

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
      await expect(
        runner.testAuthentication({ ...settings, clientId: 'not-an-environment' })
      ).rejects.toThrow(/clientId/)

      const preset = built.destination.presets?.find((p) => p.type === 'automatic')
      if (!preset || preset.type !== 'automatic') throw new Error('the destination has no automatic preset')
      const personas = {
        computation_class: 'audience',
        computation_id: 'aud_pkg',
        computation_key: 'package_test'
      }
      const events = [
        { type: 'identify', userId: 'ada', traits: { package_test: true }, context: { personas } },
        {
          type: 'track',
          event: 'Audience Entered',
          userId: 'bob',
          properties: { package_test: true },
          context: { personas }
        },
        { type: 'identify', userId: 'cy', traits: { package_test: 'true' }, context: { personas } }
      ] as unknown as JSONObject[]
      const subscription = {
        name: preset.name,
        partnerAction: preset.partnerAction,
        subscribe: preset.subscribe,
        mapping: preset.mapping
      }
      const results = await runner.onBatch(
        events as never,
        { ...settings, subscriptions: [subscription] } as never
      )
      const statuses = (results as unknown as { multistatus?: { status: number }[] }[])
        .flatMap((r) => r.multistatus ?? [])
        .map((entry) => entry.status)
      expect(statuses).toEqual([204, 204, 400])

      const segment = await fetch(
        `${baseUrl}/api/v2/segments/${projectKey}/${environmentKey}/segment-audiences-aud_pkg`,
        {
          headers: { Authorization: token }
        }
      )
      expect(segment.status).toBe(200)
      expect(await segment.json()).toMatchObject({
        name: 'Package test',
        includedCount: 2,
        unboundedContextKind: 'user'
      })
    } finally {
      await receiver.close()
    }
  })
})
