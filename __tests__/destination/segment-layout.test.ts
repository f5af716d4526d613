/**
 * §A7: the destination folder runs unchanged as
 * `packages/destination-actions/src/destinations/launchdarkly-audiences/` of
 * segmentio/action-destinations. There no package.json of ours is anywhere above it and only that
 * repository's dependencies exist, so the folder may read no file at import time and import nothing
 * but its own modules, Node's built-ins and actions-core.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import ts from 'typescript'

const ROOT = join(__dirname, '..', '..')
const SOURCE = join(ROOT, 'src', 'destination')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : []
  )
}

function packageJsonAbove(dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'package.json'))) return join(at, 'package.json')
    if (dirname(at) === at) return undefined
  }
}

/**
 * In a child process with its working directory in a copy of the folder: the copy is loaded with
 * every file read and its caller recorded, its definition's name, actions and headers printed, and one event sent
 * through actions-core's runner to a local server.
 */
const CHILD = `
const fs = require('node:fs')
const http = require('node:http')
const reads = []
for (const name of ['readFileSync', 'readFile', 'openSync', 'open', 'createReadStream']) {
  const original = fs[name]
  fs[name] = function (path, ...rest) {
    // Who called: the folder's own code, or Node's and ts-node's module loading.
    reads.push({ path: String(path), caller: String(new Error().stack).split('\\n')[2] })
    return original.call(this, path, ...rest)
  }
}
const { default: definition } = require(process.argv[1])
const loadReads = reads.splice(0)
const { Destination } = require('@segment/actions-core')
const server = http.createServer((req, res) => {
  let body = ''
  req.on('data', (chunk) => (body += chunk))
  req.on('end', () => {
    server.received = { method: req.method, url: req.url, userAgent: req.headers['user-agent'], body: JSON.parse(body) }
    res.writeHead(204).end()
  })
})
server.listen(0, '127.0.0.1', async () => {
  const preset = definition.presets[0]
  const settings = {
    apiKey: 'api-token', clientId: 'client-id', apiBaseUrl: 'http://127.0.0.1:' + server.address().port,
    subscriptions: [{ name: preset.name, partnerAction: preset.partnerAction, subscribe: preset.subscribe, mapping: preset.mapping }]
  }
  const event = {
    type: 'identify', userId: 'ada', traits: { vip_users: true },
    context: { personas: { computation_class: 'audience', computation_id: 'aud_1', computation_key: 'vip_users' } }
  }
  await new Destination(definition).onEvent(event, settings)
  server.close()
  process.stdout.write(JSON.stringify({
    name: definition.name,
    actions: Object.keys(definition.actions),
    headers: definition.extendRequest({ settings: { apiKey: 'api-token' } }).headers,
    loadReads,
    received: server.received
  }))
})
`

describe('the destination folder in action-destinations’ layout', () => {
  let workspace: string
  let folder: string

  beforeAll(() => {
    workspace = mkdtempSync(join(tmpdir(), 'action-destinations-'))
    folder = join(
      workspace,
      'packages',
      'destination-actions',
      'src',
      'destinations',
      'launchdarkly-audiences'
    )
    cpSync(SOURCE, folder, { recursive: true })
  })
  afterAll(() => rmSync(workspace, { recursive: true, force: true }))

  it('loads and sends with no package.json reachable, reading no file but its modules', () => {
    expect(packageJsonAbove(folder)).toBeUndefined()
    const output = execFileSync(
      process.execPath,
      ['-r', require.resolve('ts-node/register/transpile-only'), '-e', CHILD, join(folder, 'index.ts')],
      {
        cwd: folder,
        encoding: 'utf8',
        // Only the libraries resolve from this project; nothing of it is on the copy's path.
        env: {
          ...process.env,
          NODE_PATH: join(ROOT, 'node_modules'),
          TS_NODE_SKIP_PROJECT: 'true',
          TS_NODE_COMPILER_OPTIONS: JSON.stringify({
            module: 'commonjs',
            target: 'es2020',
            esModuleInterop: true
          })
        }
      }
    )
    const result = JSON.parse(output) as {
      name: string
      actions: string[]
      headers: Record<string, string>
      loadReads: Array<{ path: string; caller: string }>
      received: { method: string; url: string; userAgent: string; body: unknown }
    }
    expect(result.name).toBe('LaunchDarkly Audiences')
    expect(result.actions).toContain('syncAudience')
    expect(result.headers['User-Agent']).toBe('SegmentSyncAudiences/1.1.0')
    expect(result.loadReads.length).toBeGreaterThan(0)
    expect(result.loadReads.filter(({ caller }) => caller.includes(folder + sep))).toEqual([])
    expect(result.received).toEqual({
      method: 'POST',
      url: '/api/v2/segment-targets/segment-audiences',
      userAgent: 'SegmentSyncAudiences/1.1.0',
      body: {
        environmentId: 'client-id',
        contextKind: 'user',
        batch: [{ userId: 'ada', cohortName: 'Vip users', cohortId: 'aud_1', value: true }]
      }
    })
  })

  // ajv only as actions-core's own copy: schema-keys.ts resolves it from actions-core's directory.
  it('imports only its own modules, Node built-ins and @segment/actions-core (with its ajv)', () => {
    const builtins = new Set(builtinModules)
    const outside: string[] = []
    for (const file of sourceFiles(SOURCE)) {
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
      for (const { fileName: specifier } of importedFiles) {
        const allowed = specifier.startsWith('.')
          ? !relative(SOURCE, resolve(dirname(file), specifier)).startsWith('..')
          : specifier === '@segment/actions-core' ||
            (specifier === 'ajv' && file.endsWith(`${sep}schema-keys.ts`)) ||
            builtins.has(specifier.replace(/^node:/, ''))
        if (!allowed) outside.push(`${relative(ROOT, file)}: ${specifier}`)
      }
    }
    expect(outside).toEqual([])
  })
})
