/** The command structure and `integrations validate | list`, in process (serve runs in serve-process.test.ts). */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { buildProgram, packageVersion } from '../../src/cli/main'
import { list, validate } from '../../src/cli/integrations'
import { BUNDLED_INTEGRATIONS_DIR } from '../../src/receiver/integrations'
import { tempDir, writeIntegrations } from './app-helpers'

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return { stream, text: () => text }
}

const validCapability = {
  requestParser: {
    environmentIdPath: '/environmentId',
    cohortIdPath: '/cohortId',
    cohortNamePath: '/cohortName',
    memberArrayPath: '/members',
    memberArrayParser: { memberIdPath: '/id', booleanMembershipPath: '/value' }
  }
}

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('program', () => {
  it('is synced-segments with the package version and every command', () => {
    const program = buildProgram()
    expect(program.name()).toBe('synced-segments')
    expect(program.version()).toBe(packageVersion())
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/)
    const names = program.commands.map((c) => c.name())
    expect(names).toEqual(['serve', 'replay', 'demo', 'segments', 'history', 'integrations'])
    const serve = program.commands.find((c) => c.name() === 'serve')
    expect(serve?.options.map((o) => o.long)).toEqual(['--port', '--host', '--data', '--store', '--integrations', '--config', '--heartbeat'])
    const defaults = Object.fromEntries((serve?.options ?? []).map((o) => [o.attributeName(), o.defaultValue as unknown]))
    expect(defaults).toMatchObject({ port: 8787, host: '127.0.0.1', data: './data', store: 'sqlite', heartbeat: 30000 })
  })

  it.each([
    ['--port', 'eighty', 'must be a port number'],
    ['--heartbeat', '-5', 'must be a whole number of milliseconds']
  ])('rejects %s %s', (option, value, message) => {
    const program = buildProgram()
    const serve = program.commands.find((c) => c.name() === 'serve')
    let errors = ''
    serve?.exitOverride().configureOutput({ writeErr: (text) => (errors += text) })
    expect(() => program.parse(['serve', option, value], { from: 'user' })).toThrow()
    expect(errors).toContain(message)
  })
})

describe('integrations validate', () => {
  it('exits 0 with a summary for the bundled integrations', () => {
    const out = capture()
    const err = capture()
    expect(validate(BUNDLED_INTEGRATIONS_DIR, out.stream, err.stream)).toBe(0)
    expect(out.text()).toMatch(/^12 synced-segment integrations valid in .*: amplitude, /)
    expect(err.text()).toBe('')
  })

  it('exits 1 naming the file and the broken rule of each invalid manifest', () => {
    const dir = writeIntegrations({
      good: validCapability,
      'half-arrays': {
        requestParser: { ...validCapability.requestParser, memberArrayPath: undefined, addMemberArrayPath: '/add' }
      },
      'bad-matcher': {
        requestParser: { ...validCapability.requestParser, arrayInclusion: { path: '/action', matcher: '(' } }
      }
    })
    dirs.push(dir)
    const out = capture()
    const err = capture()
    expect(validate(dir, out.stream, err.stream)).toBe(1)
    expect(err.text()).toContain(`${join(dir, 'half-arrays', 'manifest.json')}: [add-remove-pair]`)
    expect(err.text()).toContain(`${join(dir, 'bad-matcher', 'manifest.json')}: [matcher-regex]`)
    // These manifests carry only a capability: LaunchDarkly's CI finds the rest missing, and says so
    // for every one of them — but no capability rule for the good one.
    const goodLines = err.text().split('\n').filter((line) => line.startsWith(join(dir, 'good')))
    expect(goodLines.length).toBeGreaterThan(0)
    for (const line of goodLines) expect(line).toMatch(/: \[(manifest-schema|overview-period)\] /)
    expect(out.text()).toBe('')
  })

  it("exits 0 for a directory shaped like LaunchDarkly's, listing the integrations without syncedSegment as skipped", () => {
    const dir = tempDir('ld-directory-')
    dirs.push(dir)
    for (const key of ['amplitude', 'hightouch']) cpSync(join(BUNDLED_INTEGRATIONS_DIR, key), join(dir, key), { recursive: true })
    cpSync(join(BUNDLED_INTEGRATIONS_DIR, 'zeotap'), join(dir, 'webhooks'), { recursive: true })
    const manifest = JSON.parse(readFileSync(join(dir, 'webhooks', 'manifest.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(join(dir, 'webhooks', 'manifest.json'), JSON.stringify({ ...manifest, name: 'Webhooks', capabilities: undefined, otherCapabilities: ['webhooks'] }))
    const out = capture()
    const err = capture()
    expect(validate(dir, out.stream, err.stream)).toBe(0)
    expect(err.text()).toBe('')
    expect(out.text()).toContain('2 synced-segment integrations valid')
    expect(out.text()).toContain('1 integration without syncedSegment, skipped: webhooks')
  })

  it('exits 1 for a directory without integrations', () => {
    const dir = tempDir('no-integrations-')
    dirs.push(dir)
    const err = capture()
    expect(validate(dir, capture().stream, err.stream)).toBe(1)
    expect(err.text()).toContain('no integrations')
    expect(validate(join(dir, 'missing'), capture().stream, err.stream)).toBe(1)
  })
})

describe('integrations list', () => {
  it('lists the bundled integrations with their mode, plus extra ones', () => {
    const dir = writeIntegrations({ 'my-cdp': validCapability })
    dirs.push(dir)
    const out = capture()
    list(dir, out.stream)
    const lines = out.text().trim().split('\n')
    expect(lines[0]).toMatch(/^KEY\s+MODE\s+RESPONSE BODY\s+NAME$/)
    expect(lines).toHaveLength(14)
    expect(lines.find((l) => l.startsWith('heap-inbound '))).toMatch(/add\/remove arrays\s+custom\s+Heap Segments/)
    expect(lines.find((l) => l.startsWith('zeotap '))).toMatch(/array inclusion\s+default/)
    expect(lines.find((l) => l.startsWith('my-cdp '))).toMatch(/boolean membership\s+default\s+my-cdp/)
  })
})
