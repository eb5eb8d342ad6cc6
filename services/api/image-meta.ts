/**
 * Validation of the user-editable metadata (title, tags), shared by uploads,
 * URL submissions and PATCH so that every path stores the same shapes.
 * Tags are lower-cased and de-duplicated: `Cats` and `cats` are one tag.
 */
import { z } from 'zod';
import { BadRequestError } from '../../shared/errors.js';

export const MAX_TAGS = 30;

export const titleSchema = z
  .string()
  .trim()
  .max(200, 'title must be at most 200 characters')
  .transform((t) => (t === '' ? null : t));

const tagSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'a tag cannot be empty')
  .max(50, 'a tag must be at most 50 characters')
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} _.-]*$/u, 'a tag may hold letters, digits, space, "_", "." and "-", starting with a letter or digit')
  // For the OpenAPI document, which would otherwise carry the regex's "/u" flag inside the pattern.
  .meta({ pattern: '^[\\p{L}\\p{N}][\\p{L}\\p{N} _.-]*$' });

export const tagsSchema = z
  .array(tagSchema)
  .max(MAX_TAGS, `at most ${MAX_TAGS} tags`)
  .transform((tags) => [...new Set(tags)]);

export const visibilitySchema = z.enum(['public', 'unlisted', 'private']);

/** The multipart/tus `visibility` field; absent means the configured default. */
export function parseVisibility(raw: string | null | undefined, fallback: z.infer<typeof visibilitySchema>): z.infer<typeof visibilitySchema> {
  if (raw === null || raw === undefined || raw === '') return fallback;
  return check(visibilitySchema, raw, 'visibility');
}

export function parseTitle(raw: string | null): string | null {
  if (raw === null) return null;
  return check(titleSchema, raw, 'title');
}

/** The multipart `tags` field: comma-separated. */
export function parseTagsField(raw: string | null): string[] {
  if (raw === null) return [];
  const parts = raw.split(',').filter((t) => t.trim() !== '');
  return check(tagsSchema, parts, 'tags');
}

export function parseTag(raw: string): string {
  return check(tagSchema, raw, 'tag');
}

export function mergeTags(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].slice(0, MAX_TAGS);
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new BadRequestError(`invalid ${what}: ${first?.message ?? 'bad value'}`);
  }
  return parsed.data;
}
