/** The `<img>` element for a scaled image: readable slug, alt text, escaped attributes. Pure. */

export interface ImgTagInput {
  src: string;
  width: number;
  height: number;
  alt: string;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function imgTag({ src, width, height, alt }: ImgTagInput): string {
  return `<img src="${escapeHtml(src)}" width="${width}" height="${height}" alt="${escapeHtml(alt)}">`;
}

/** `IMG_2041-beach_day.JPG` -> `IMG 2041 beach day`. */
export function readableFilename(filename: string): string {
  const base = filename.replace(/\.[A-Za-z0-9]{1,5}$/, '');
  return base.replace(/[_\-.+]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** Title, else the file name made readable, plus the configured suffix. */
export function altText(title: string | null, filename: string | null, suffix: string): string {
  const base = title ?? (filename ? readableFilename(filename) : '');
  return `${base}${suffix}`.trim();
}

/** A URL-safe name for the path: lower-case ASCII words joined by `-`; `image` when nothing is left. */
export function slugify(text: string | null): string {
  const slug = (text ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\.[a-z0-9]{1,5}$/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return slug === '' ? 'image' : slug;
}
