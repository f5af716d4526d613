/**
 * Generates src/destination/**\/generated-types.ts from the field definitions exactly as
 * segmentio/action-destinations' `generate:types` does, so the folder can sit in that repository
 * and its generator leaves the files unchanged:
 *
 * - fields → JSON schema with actions-core's `fieldsToJsonSchema(fields, { tsType: true })`;
 * - `title` and `enum` removed from the schema, its properties, their object properties and array
 *   items (so a field with choices is typed `string`, and no field gets a named alias);
 * - json-schema-to-typescript with that repository's banner and its prettier settings (the
 *   `prettier` key of its root package.json, merged over json-schema-to-typescript's defaults);
 * - `Settings` from the authentication fields, then one `Payload` per action (plus
 *   `<hook>Inputs` / `<hook>Outputs` for an action's hooks), written to `<action>/generated-types.ts`
 *   when that folder exists and to `<action>.types.ts` otherwise.
 *
 * `npm run generate-types` writes the files; with `--print` it writes them as JSON to stdout
 * instead, which __tests__/destination/generated-types.test.ts compares with the committed files
 * (in a child process: prettier's dynamic import does not run under jest).
 */
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  fieldsToJsonSchema,
  type ActionDefinition,
  type DestinationDefinition,
  type GlobalSetting,
  type InputField
} from '@segment/actions-core'
import { compile, type JSONSchema } from 'json-schema-to-typescript'
import destination from '../src/destination'

const ROOT = join(__dirname, '..')
const DESTINATION_DIR = 'src/destination'

export const BANNER = '// Generated file. DO NOT MODIFY IT BY HAND.'

/** action-destinations' root package.json `prettier` settings, which its generator formats with. */
export const ACTION_DESTINATIONS_PRETTIER = {
  semi: false,
  singleQuote: true,
  trailingComma: 'none',
  printWidth: 120
} as const

function withoutTitleAndEnum(schema: JSONSchema): JSONSchema {
  const { title: _title, enum: _enum, ...rest } = schema
  if (rest.type === 'object' && rest.properties) {
    rest.properties = Object.fromEntries(
      Object.entries(rest.properties).map(([key, property]) => [key, withoutTitleAndEnum(property)])
    )
  } else if (rest.type === 'array' && rest.items && !Array.isArray(rest.items)) {
    rest.items = withoutTitleAndEnum(rest.items)
  }
  return rest
}

function typeFor(
  fields: Record<string, InputField | GlobalSetting> | undefined,
  name: string
): Promise<string> {
  const schema = withoutTitleAndEnum(fieldsToJsonSchema(fields ?? {}, { tsType: true }) as JSONSchema)
  return compile(schema, name, { bannerComment: BANNER, style: ACTION_DESTINATIONS_PRETTIER })
}

type AnyAction = ActionDefinition<unknown, unknown>
type Hook = { inputFields?: Record<string, InputField>; outputTypes?: Record<string, InputField> }

async function payloadTypes(action: AnyAction): Promise<string> {
  let types = await typeFor(action.fields, 'Payload')
  const hooks = (action.hooks ?? {}) as Record<string, Hook | undefined>
  for (const [hookName, hook] of Object.entries(hooks)) {
    if (hook?.inputFields) types += await typeFor(hook.inputFields, `${hookName}Inputs`)
    if (hook?.outputTypes) types += await typeFor(hook.outputTypes, `${hookName}Outputs`)
  }
  return types
}

/** Repository-relative path → file content, for every generated file. */
export async function generateTypes(
  definition: DestinationDefinition<unknown> = destination as DestinationDefinition<unknown>
): Promise<Record<string, string>> {
  const files: Record<string, string> = {
    [`${DESTINATION_DIR}/generated-types.ts`]: await typeFor(definition.authentication?.fields, 'Settings')
  }
  for (const [slug, action] of Object.entries(definition.actions)) {
    const path = existsSync(join(ROOT, DESTINATION_DIR, slug))
      ? `${DESTINATION_DIR}/${slug}/generated-types.ts`
      : `${DESTINATION_DIR}/${slug}.types.ts`
    files[path] = await payloadTypes(action as AnyAction)
  }
  return files
}

async function main(): Promise<void> {
  const files = await generateTypes()
  if (process.argv.includes('--print')) {
    process.stdout.write(JSON.stringify(files))
    return
  }
  for (const [path, content] of Object.entries(files)) {
    writeFileSync(join(ROOT, path), content)
    console.log(`wrote ${path}`)
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
