import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BUNDLED_INTEGRATIONS_DIR,
  IntegrationError,
  loadIntegrations,
  validateIntegrationsDir,
  type RequestParser
} from '../../src/receiver/integrations'

const BUNDLED_KEYS = [
  'amplitude',
  'census-synced-segments',
  'example-synced-segment-integration1',
  'example-synced-segment-integration2',
  'fulcrum',
  'heap-inbound',
  'hightouch',
  'rudderstack',
  'segment-audiences',
  'sumatra-synced-segments',
  'tealium-synced-segments',
  'zeotap'
]

let root: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'integrations-'))
})
afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

/** Writes `<root>/<sub>/<key>/manifest.json` and returns `<root>/<sub>`. */
function writeManifest(key: string, manifest: unknown, sub = 'dir'): string {
  const dir = join(root, sub)
  mkdirSync(join(dir, key), { recursive: true })
  writeFileSync(join(dir, key, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest))
  return dir
}

const booleanParser: RequestParser = {
  environmentIdPath: '/environmentId',
  cohortIdPath: '/cohortId',
  cohortNamePath: '/cohortName',
  memberArrayPath: '/batch',
  memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '/value' }
}

function manifestWith(requestParser: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { name: 'Test', capabilities: { syncedSegment: { requestParser, ...extra } } }
}

describe('bundled integrations', () => {
  it('all twelve load, keyed by directory name', () => {
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
    expect([...integrations.keys()].sort()).toEqual(BUNDLED_KEYS)
    expect(validateIntegrationsDir(BUNDLED_INTEGRATIONS_DIR)).toEqual([])
  })

  it('BUNDLED_INTEGRATIONS_DIR is the repo integrations/ directory', () => {
    expect(readdirSync(BUNDLED_INTEGRATIONS_DIR).sort()).toEqual(BUNDLED_KEYS)
  })

  it('compiles each into the membership mode its manifest describes', () => {
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
    const modes = Object.fromEntries([...integrations].map(([key, i]) => [key, i.parser.mode.kind]))
    expect(modes).toEqual({
      amplitude: 'boolean',
      'census-synced-segments': 'boolean',
      'example-synced-segment-integration1': 'addRemove',
      'example-synced-segment-integration2': 'inclusion',
      fulcrum: 'addRemove',
      'heap-inbound': 'addRemove',
      hightouch: 'inclusion',
      rudderstack: 'addRemove',
      'segment-audiences': 'boolean',
      'sumatra-synced-segments': 'addRemove',
      'tealium-synced-segments': 'inclusion',
      zeotap: 'inclusion'
    })
  })

  it('keeps name, manifest path and capability, and compiles jsonResponseBody only where present', () => {
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
    const heap = integrations.get('heap-inbound')
    expect(heap?.name).toBe('Heap Segments')
    expect(heap?.manifestPath).toBe(join(BUNDLED_INTEGRATIONS_DIR, 'heap-inbound', 'manifest.json'))
    expect(heap?.capability.requestParser.addMemberArrayPath).toBe('/heap/data/add')
    expect(typeof heap?.responseTemplate).toBe('function')
    expect(integrations.get('amplitude')?.responseTemplate).toBeUndefined()
  })
})

describe('loadIntegrations: directories', () => {
  it('lower-cases the directory name into the key', () => {
    const dir = writeManifest('My-Partner', manifestWith({ ...booleanParser }))
    const integrations = loadIntegrations([dir])
    expect([...integrations.keys()]).toEqual(['my-partner'])
    expect(integrations.get('my-partner')?.key).toBe('my-partner')
  })

  it('a later directory adds integrations and replaces those with the same key', () => {
    const replaced = writeManifest('Amplitude', { ...manifestWith({ ...booleanParser }), name: 'My Amplitude' }, 'extra')
    writeManifest('newcomer', manifestWith({ ...booleanParser }), 'extra')
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR, replaced])
    expect(integrations.size).toBe(13)
    expect(integrations.get('amplitude')?.name).toBe('My Amplitude')
    expect(integrations.get('amplitude')?.manifestPath).toBe(join(replaced, 'Amplitude', 'manifest.json'))
    expect(integrations.get('newcomer')?.name).toBe('Test')
  })

  it('uses the key as name when the manifest has none', () => {
    const dir = writeManifest('nameless', { capabilities: { syncedSegment: { requestParser: booleanParser } } })
    expect(loadIntegrations([dir]).get('nameless')?.name).toBe('nameless')
  })

  it('ignores plain files and dot-directories', () => {
    const dir = writeManifest('ok', manifestWith({ ...booleanParser }))
    writeFileSync(join(dir, 'README.md'), '# notes')
    mkdirSync(join(dir, '.git'))
    expect([...loadIntegrations([dir]).keys()]).toEqual(['ok'])
  })

  it('an empty directory holds no integrations', () => {
    mkdirSync(join(root, 'empty'))
    expect(loadIntegrations([join(root, 'empty')]).size).toBe(0)
  })
})

type Case = [rule: string, manifest: unknown, messagePart: string]

const invalidCases: Case[] = [
  ['manifest-file', '{ "capabilities": ', 'not valid JSON'],
  ['manifest-capability', { name: 'x', capabilities: { trigger: {} } }, '/capabilities/syncedSegment'],
  ['manifest-capability', [], '/capabilities/syncedSegment'],
  ['schema', manifestWith({ ...booleanParser, environmentIdPath: 42 }), '/capabilities/syncedSegment/requestParser/environmentIdPath: must be string'],
  ['schema', manifestWith({ ...booleanParser, memberIdPath: '/x' }), 'unknown property "memberIdPath"'],
  ['schema', manifestWith({ ...booleanParser, cohortIdPath: undefined }), "must have required property 'cohortIdPath'"],
  ['schema', manifestWith({ ...booleanParser }, { jsonResponseBody: 5 }), '/capabilities/syncedSegment/jsonResponseBody: must be string'],
  [
    'add-remove-pair',
    manifestWith({ ...booleanParser, memberArrayPath: undefined, addMemberArrayPath: '/add' }),
    'addMemberArrayPath is set without requestParser.removeMemberArrayPath'
  ],
  [
    'add-remove-pair',
    manifestWith({ ...booleanParser, memberArrayPath: undefined, removeMemberArrayPath: '/remove' }),
    'removeMemberArrayPath is set without requestParser.addMemberArrayPath'
  ],
  [
    'member-array-exclusive',
    manifestWith({ ...booleanParser, addMemberArrayPath: '/add', removeMemberArrayPath: '/remove' }),
    'memberArrayPath cannot be combined'
  ],
  [
    'array-inclusion-needs-member-array',
    manifestWith({
      ...booleanParser,
      memberArrayPath: undefined,
      addMemberArrayPath: '/add',
      removeMemberArrayPath: '/remove',
      arrayInclusion: { path: '/action', matcher: '^add$' }
    }),
    'arrayInclusion needs requestParser.memberArrayPath'
  ],
  [
    'boolean-membership-required',
    manifestWith({ ...booleanParser, memberArrayParser: { memberIdPath: '/userId' } }),
    'booleanMembershipPath is required'
  ],
  ['member-array-required', manifestWith({ ...booleanParser, memberArrayPath: undefined }), 'needs memberArrayPath'],
  ['json-pointer', manifestWith({ ...booleanParser, environmentIdPath: 'environmentId' }), 'requestParser.environmentIdPath: invalid JSON pointer "environmentId"'],
  ['json-pointer', manifestWith({ ...booleanParser, cohortUrlPath: '/url~2' }), 'requestParser.cohortUrlPath'],
  [
    'json-pointer',
    manifestWith({ ...booleanParser, memberArrayParser: { memberIdPath: 'userId', booleanMembershipPath: '/value' } }),
    'requestParser.memberArrayParser.memberIdPath'
  ],
  [
    'json-pointer',
    manifestWith({ ...booleanParser, arrayInclusion: { path: 'action', matcher: 'add' } }),
    'requestParser.arrayInclusion.path'
  ],
  [
    'json-pointer',
    manifestWith({ ...booleanParser, memberArrayPath: undefined, addMemberArrayPath: '/add', removeMemberArrayPath: 'remove' }),
    'requestParser.removeMemberArrayPath'
  ],
  [
    'matcher-regex',
    manifestWith({ ...booleanParser, arrayInclusion: { path: '/action', matcher: '^(add' } }),
    'requestParser.arrayInclusion.matcher: Invalid regular expression'
  ],
  ['response-template', manifestWith({ ...booleanParser }, { jsonResponseBody: '{ "a": "{{#if x}}" }' }), 'jsonResponseBody is not a valid Handlebars template'],
  // "}}}" closes a triple-stash: a JSON object ending right after a block is a classic mistake.
  ['response-template', manifestWith({ ...booleanParser }, { jsonResponseBody: '{"a": {{#if x}}1{{else}}2{{/if}}}' }), 'Parse error'],
  ['response-template', manifestWith({ ...booleanParser }, { jsonResponseBody: '{"a": "{{shout segmentKey}}"}' }), 'Missing helper: "shout"']
]

describe('validation rules', () => {
  it.each(invalidCases)('%s: %j', (rule, manifest, messagePart) => {
    const dir = writeManifest('broken', manifest)
    const file = join(dir, 'broken', 'manifest.json')
    const problems = validateIntegrationsDir(dir)
    expect(problems).toContainEqual({ file, rule, message: expect.stringContaining(messagePart) })

    expect(() => loadIntegrations([dir])).toThrow(IntegrationError)
    try {
      loadIntegrations([dir])
    } catch (err) {
      expect((err as IntegrationError).message).toContain(`${file}: [${rule}]`)
      expect((err as IntegrationError).message).toContain(messagePart)
      expect((err as IntegrationError).problems).toEqual(problems)
    }
  })

  it('reports a missing manifest.json', () => {
    mkdirSync(join(root, 'dir', 'no-manifest'), { recursive: true })
    expect(validateIntegrationsDir(join(root, 'dir'))).toEqual([
      { file: join(root, 'dir', 'no-manifest', 'manifest.json'), rule: 'manifest-file', message: expect.stringContaining('cannot read the manifest') }
    ])
  })

  it('reports a directory that cannot be read', () => {
    const missing = join(root, 'nope')
    expect(validateIntegrationsDir(missing)).toEqual([{ file: missing, rule: 'integrations-dir', message: expect.stringContaining('cannot read the directory') }])
    expect(() => loadIntegrations([missing])).toThrow(`${missing}: [integrations-dir]`)
  })

  it('reports two directories differing only in case', () => {
    writeManifest('Partner', manifestWith({ ...booleanParser }))
    const dir = writeManifest('partner', manifestWith({ ...booleanParser }))
    expect(validateIntegrationsDir(dir)).toEqual([
      { file: join(dir, 'partner', 'manifest.json'), rule: 'duplicate-key', message: expect.stringContaining('"partner" is already used') }
    ])
  })

  it('reports a directory name that cannot be part of a segment key', () => {
    const dir = writeManifest('my partner', manifestWith({ ...booleanParser }))
    expect(validateIntegrationsDir(dir)).toEqual([
      { file: join(dir, 'my partner', 'manifest.json'), rule: 'integration-key', message: expect.stringContaining('"my partner"') }
    ])
  })

  it('lists every problem of every manifest, and still loads nothing from a broken set', () => {
    writeManifest('good', manifestWith({ ...booleanParser }))
    writeManifest('bad1', manifestWith({ ...booleanParser, memberArrayPath: undefined, addMemberArrayPath: 'add' }))
    const dir = writeManifest('bad2', '[')
    const problems = validateIntegrationsDir(dir)
    expect(problems.map((p) => [p.file.slice(dir.length + 1), p.rule])).toEqual([
      [join('bad1', 'manifest.json'), 'add-remove-pair'],
      [join('bad1', 'manifest.json'), 'json-pointer'],
      [join('bad2', 'manifest.json'), 'manifest-file']
    ])
    expect(() => loadIntegrations([dir])).toThrow(IntegrationError)
  })

  it('reports pointer, matcher and template problems alongside a broken structural rule', () => {
    const dir = writeManifest(
      'many',
      manifestWith(
        { ...booleanParser, memberArrayPath: undefined, cohortIdPath: 'cohort', arrayInclusion: { path: '/a', matcher: '[' } },
        { jsonResponseBody: '{{#each}}' }
      )
    )
    expect(validateIntegrationsDir(dir).map((p) => p.rule)).toEqual([
      'array-inclusion-needs-member-array',
      'member-array-required',
      'json-pointer',
      'matcher-regex',
      'response-template'
    ])
  })

  it('accepts each valid shape', () => {
    writeManifest('boolean', manifestWith({ ...booleanParser }))
    writeManifest(
      'inclusion',
      manifestWith({
        ...booleanParser,
        memberArrayParser: { memberIdPath: '/id' },
        arrayInclusion: { path: '/action', matcher: '^add$' }
      })
    )
    const dir = writeManifest(
      'add-remove',
      manifestWith(
        { ...booleanParser, memberArrayPath: undefined, addMemberArrayPath: '/add', removeMemberArrayPath: '/remove', memberArrayParser: { memberIdPath: '' } },
        { jsonResponseBody: '{"ok": {{#if errorMessage}}false{{else}}true{{/if}} }' }
      )
    )
    expect(validateIntegrationsDir(dir)).toEqual([])
    expect([...loadIntegrations([dir]).keys()].sort()).toEqual(['add-remove', 'boolean', 'inclusion'])
  })
})
