/**
 * `jsonResponseBody` templates (§B3): Handlebars, but every value lands in the output JSON-escaped
 * and never HTML-escaped, so the output is valid JSON whatever the strings contain.
 *
 * Handlebars' runtime escapes `{{x}}` with a fixed HTML escaper that an instance cannot replace, so
 * templates are compiled with `noEscape` (no HTML escaping for `{{x}}` nor `{{{x}}}`) and the values
 * are escaped on the way in instead: strings of the context are JSON-escaped when read (lazily,
 * through a read-only view, so a large request body costs nothing unless the template reads it),
 * and `#each` hands out escaped `@key`s. Both `{{x}}` and `{{{x}}}` thus print escaped strings.
 */
import Handlebars from 'handlebars'
import { HttpError } from '../errors'
import type { CompiledIntegration } from './integrations/compile'
import type { ResponseContext } from './integrations/types'

export type ResponseTemplate = (context: unknown) => string

const TEMPLATE_OPTIONS = { noEscape: true, strict: false } as const
const hb = Handlebars.create()
const hasOwn = Object.prototype.hasOwnProperty

/** JSON string contents without the surrounding quotes. */
function escapeString(value: string): string {
  return JSON.stringify(value).slice(1, -1)
}

/**
 * What an array prints as (`String(array)`: elements joined by ",", nested arrays flattened, null
 * and undefined empty), strings JSON-escaped, built with a loop: the built-in join recurses once per
 * level, so an array nested 50,000 deep in a request body would overflow the stack.
 */
function arrayText(root: readonly unknown[]): string {
  let out = ''
  const stack: { items: readonly unknown[]; index: number }[] = [{ items: root, index: 0 }]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]
    if (top.index >= top.items.length) {
      stack.pop()
      continue
    }
    const index = top.index++
    if (index > 0) out += ','
    const item = top.items[index]
    if (Array.isArray(item)) stack.push({ items: item, index: 0 })
    else if (item !== null && item !== undefined)
      out += typeof item === 'string' ? escapeString(item) : String(item)
  }
  return out
}

const escapingView: ProxyHandler<object> = {
  get(target, property, receiver) {
    if (property === Symbol.toPrimitive && Array.isArray(target)) return () => arrayText(target)
    const value: unknown = Reflect.get(target, property, receiver)
    return typeof property === 'string' && hasOwn.call(target, property) ? escapeValue(value) : value
  },
  // The view is for reading only; a helper must not write escaped values back into the body.
  set: () => false,
  defineProperty: () => false,
  deleteProperty: () => false
}

function escapeValue(value: unknown): unknown {
  if (typeof value === 'string') return escapeString(value)
  if (typeof value === 'object' && value !== null) return new Proxy(value, escapingView)
  return value
}

// `@key` comes from the object's own keys, not its values: escape it where `#each` hands it out.
const builtinEach = hb.helpers.each
hb.registerHelper('each', function (this: unknown, context: unknown, options: Handlebars.HelperOptions) {
  const fn = options.fn
  const escapingFn = Object.assign(
    (value: unknown, runtimeOptions?: { data?: Record<string, unknown>; blockParams?: unknown[] }) => {
      if (runtimeOptions === undefined) return fn(value)
      const { data, blockParams } = runtimeOptions
      return fn(value, {
        ...runtimeOptions,
        data: data && { ...data, key: escapeKey(data.key) },
        blockParams: blockParams && [blockParams[0], escapeKey(blockParams[1])]
      })
    },
    fn
  )
  return builtinEach.call(this, context, { ...options, fn: escapingFn })
})

function escapeKey(key: unknown): unknown {
  return typeof key === 'string' ? escapeString(key) : key
}

const SAMPLE_CONTEXTS: ResponseContext[] = [
  {
    requestBody: {},
    statusCode: 200,
    errorMessage: '',
    projectKey: 'default',
    environmentKey: 'production',
    segmentKey: 'segment',
    segmentUrl: 'http://localhost/segment'
  },
  {
    requestBody: {},
    statusCode: 400,
    errorMessage: 'error',
    projectKey: '',
    environmentKey: '',
    segmentKey: '',
    segmentUrl: ''
  }
]

/**
 * Compiles a `jsonResponseBody` eagerly: Handlebars compiles lazily on first render, so two trial
 * renders (success and error) make syntax errors and unknown helpers surface at load. Throws then.
 */
export function compileResponseTemplate(source: string): ResponseTemplate {
  const template = hb.compile(source, TEMPLATE_OPTIONS)
  for (const context of SAMPLE_CONTEXTS) template(escapeValue(context))
  return template
}

/** The variables a `jsonResponseBody` is rendered with (§B3); `requestBody` holds the partner's own JSON. */
export const RESPONSE_VARIABLES: readonly (keyof ResponseContext)[] = [
  'requestBody',
  'statusCode',
  'errorMessage',
  'projectKey',
  'environmentKey',
  'segmentKey',
  'segmentUrl'
]

type Node = hbs.AST.Node

/**
 * The variables a template reads from its top-level context that the context does not have (they
 * would render as ""), as written (`segmentkey`, `../projectId`, `@root.envKey`). Inside `#each`,
 * `#with` and sections the context is the element, so only `../` and `@root.` paths that reach the
 * top level are checked there; names of helpers are not variables.
 */
export function unknownTemplateVariables(source: string): string[] {
  const unknown = new Set<string>()
  const known = new Set<string>(RESPONSE_VARIABLES)
  // One entry per enclosing context: true while that context is still the template's top level.
  const check = (path: hbs.AST.PathExpression, scopes: readonly boolean[]): void => {
    let name: string | undefined
    if (path.data) {
      if (path.parts[0] === 'root') name = path.parts[1]
    } else if (scopes[Math.max(0, scopes.length - 1 - path.depth)]) {
      name = path.parts[0]
    }
    if (name !== undefined && !known.has(name)) unknown.add(path.original)
  }
  const isHelper = (path: Node): boolean => {
    if (path.type !== 'PathExpression') return false
    const p = path as hbs.AST.PathExpression
    return !p.data && p.depth === 0 && p.parts.length === 1 && hasOwn.call(hb.helpers, p.parts[0])
  }
  const walk = (node: Node | undefined | null, scopes: readonly boolean[]): void => {
    if (!node) return
    switch (node.type) {
      case 'Program':
        for (const statement of (node as hbs.AST.Program).body) walk(statement, scopes)
        return
      case 'PathExpression':
        check(node as hbs.AST.PathExpression, scopes)
        return
      case 'MustacheStatement':
      case 'SubExpression':
      case 'BlockStatement': {
        const call = node as hbs.AST.MustacheStatement | hbs.AST.SubExpression | hbs.AST.BlockStatement
        // With arguments the callee can only be a helper (a missing one fails the trial render).
        const takesArguments = call.params.length > 0 || (call.hash?.pairs.length ?? 0) > 0
        if (!takesArguments && !isHelper(call.path)) walk(call.path, scopes)
        for (const param of call.params) walk(param, scopes)
        for (const pair of call.hash?.pairs ?? []) walk(pair.value, scopes)
        if (node.type === 'BlockStatement') {
          const block = node as hbs.AST.BlockStatement
          const helper =
            block.path.type === 'PathExpression' ? (block.path as hbs.AST.PathExpression).original : ''
          // #if and #unless keep the context; #each, #with and sections move into a value.
          walk(block.program, helper === 'if' || helper === 'unless' ? scopes : [...scopes, false])
          walk(block.inverse, scopes)
        }
        return
      }
      default:
        return
    }
  }
  walk(hb.parse(source), [true])
  return [...unknown].sort()
}

/**
 * Renders the integration's `jsonResponseBody` (undefined when it has none). Throws
 * `HttpError(500, 'invalid_response_template')` when the output is not valid JSON.
 */
export function renderResponseBody(
  integration: CompiledIntegration,
  ctx: ResponseContext
): string | undefined {
  const template = integration.responseTemplate
  if (template === undefined) return undefined
  let output: string
  try {
    output = template(escapeValue(ctx))
  } catch (err) {
    throw invalidTemplate(integration, 'jsonResponseBody failed to render', err)
  }
  try {
    JSON.parse(output)
  } catch (err) {
    throw invalidTemplate(integration, 'jsonResponseBody did not render valid JSON', err)
  }
  return output
}

function invalidTemplate(integration: CompiledIntegration, what: string, err: unknown): HttpError {
  const reason = err instanceof Error ? err.message : String(err)
  return new HttpError(500, 'invalid_response_template', `${integration.key}: ${what}: ${reason}`)
}
