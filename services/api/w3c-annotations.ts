/**
 * Our annotations as W3C Web Annotations (https://www.w3.org/TR/annotation-model/)
 * and back, so Annotorious, Recogito, Mirador and the like can read and write
 * them. Pure: no I/O.
 *
 * Each shape is an Annotation whose target is the image's IIIF canvas with a
 * selector in full-resolution pixels:
 *   rectangle -> FragmentSelector `xywh=pixel:x,y,w,h`
 *   polygon   -> SvgSelector <polygon points="x,y x,y ...">
 *   line      -> SvgSelector <polyline points="...">
 *   circle    -> SvgSelector <circle cx cy r>
 *   marker    -> SvgSelector <circle cx cy r="0"> (a point)
 * The title is a TextualBody with purpose "tagging", the comment one with
 * purpose "commenting" (what Annotorious writes for tags and comments).
 * Reading accepts the same, plus a FragmentSelector of zero size as a marker
 * and bodies without a purpose as the comment.
 */
import { z } from 'zod';
import { annotationGeometry, annotationText, type AnnotationDoc, type AnnotationGeometry } from '../../shared/annotations-store.js';
import { BadRequestError } from '../../shared/errors.js';

export const ANNO_CONTEXT = 'http://www.w3.org/ns/anno.jsonld';
const SVG_NS = 'http://www.w3.org/2000/svg';
const MEDIA_FRAGMENTS = 'http://www.w3.org/TR/media-frags/';

export interface W3cTextualBody {
  type: 'TextualBody';
  value: string;
  purpose: 'tagging' | 'commenting';
  format: 'text/plain';
}

export interface W3cAnnotation {
  '@context'?: string;
  id: string;
  type: 'Annotation';
  motivation: 'commenting' | 'highlighting';
  created: string;
  modified: string;
  body: W3cTextualBody[];
  target: { source: string; selector: { type: 'FragmentSelector'; conformsTo: string; value: string } | { type: 'SvgSelector'; value: string } };
}

export interface W3cAnnotationPage {
  '@context': string;
  id: string;
  type: 'AnnotationPage';
  items: W3cAnnotation[];
  next?: string;
}

const num = (n: number) => String(Number(n.toFixed(3)));
const pointList = (points: Array<[number, number]>) => points.map(([x, y]) => `${num(x)},${num(y)}`).join(' ');

function selectorOf(g: AnnotationGeometry): W3cAnnotation['target']['selector'] {
  const svg = (inner: string) => ({ type: 'SvgSelector' as const, value: `<svg xmlns="${SVG_NS}">${inner}</svg>` });
  switch (g.type) {
    case 'rectangle': {
      const [[x1, y1], [x2, y2]] = g.points as [[number, number], [number, number]];
      const [x, y, w, h] = [Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1)];
      return { type: 'FragmentSelector', conformsTo: MEDIA_FRAGMENTS, value: `xywh=pixel:${num(x)},${num(y)},${num(w)},${num(h)}` };
    }
    case 'polygon':
      return svg(`<polygon points="${pointList(g.points)}"/>`);
    case 'line':
      return svg(`<polyline points="${pointList(g.points)}"/>`);
    case 'circle':
      return svg(`<circle cx="${num(g.points[0]![0])}" cy="${num(g.points[0]![1])}" r="${num(g.radius)}"/>`);
    case 'marker':
      return svg(`<circle cx="${num(g.points[0]![0])}" cy="${num(g.points[0]![1])}" r="0"/>`);
  }
}

/** One annotation; `canvasId` is the image's canvas in its manifest, `annotationUrl` where the annotation lives. */
export function toW3cAnnotation(doc: AnnotationDoc, canvasId: string, annotationUrl: string): W3cAnnotation {
  const body: W3cTextualBody[] = [];
  if (doc.title) body.push({ type: 'TextualBody', value: doc.title, purpose: 'tagging', format: 'text/plain' });
  if (doc.comment) body.push({ type: 'TextualBody', value: doc.comment, purpose: 'commenting', format: 'text/plain' });
  return {
    id: annotationUrl,
    type: 'Annotation',
    motivation: body.length ? 'commenting' : 'highlighting',
    created: new Date(doc.createdAt).toISOString(),
    modified: new Date(doc.updatedAt).toISOString(),
    body,
    target: { source: canvasId, selector: selectorOf(doc.geometry) },
  };
}

// ---- reading ----

const textualBody = z.looseObject({ type: z.literal('TextualBody').optional(), value: z.string(), purpose: z.string().optional() });
const selector = z.looseObject({ type: z.string(), value: z.string().max(200_000) });
const incoming = z.looseObject({
  type: z.literal('Annotation'),
  body: z.union([textualBody, z.array(z.unknown())]).optional(),
  target: z.union([z.looseObject({ selector: z.union([selector, z.array(selector).min(1)]) }), z.string()]),
});
export const w3cPage = z.looseObject({ type: z.literal('AnnotationPage'), items: z.array(z.unknown()) });

export interface ImportedAnnotation {
  geometry: AnnotationGeometry;
  text: { title: string; comment: string };
}

/** True when a POSTed body is a W3C AnnotationPage (to import) rather than one of our own shapes. */
export function isW3cPage(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { type?: unknown }).type === 'AnnotationPage';
}

/** Every item of a page as our shape and text, or a BadRequestError naming the first item that is not one. */
export function fromW3cPage(body: unknown, maxItems: number): ImportedAnnotation[] {
  const page = w3cPage.safeParse(body);
  if (!page.success) throw new BadRequestError('invalid annotation page: expected {"type": "AnnotationPage", "items": [...]}');
  if (page.data.items.length > maxItems) throw new BadRequestError(`an annotation page may hold at most ${maxItems} annotations here`);
  return page.data.items.map((item, i) => {
    try {
      return fromW3cAnnotation(item);
    } catch (err) {
      throw new BadRequestError(`invalid annotation page: items.${i}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

function fromW3cAnnotation(item: unknown): ImportedAnnotation {
  const a = incoming.safeParse(item);
  if (!a.success) throw new Error('not an Annotation with a target selector');
  if (typeof a.data.target === 'string') {
    // A target of a whole canvas (or a media fragment in the URL) carries no shape we can draw, unless it has #xywh=.
    const frag = /#xywh=(.*)$/.exec(a.data.target);
    if (!frag) throw new Error('the target has no selector');
    const geometry = annotationGeometry.safeParse(fragmentGeometry(`xywh=${frag[1]}`));
    if (!geometry.success) throw new Error(`shape: ${geometry.error.issues[0]?.message ?? 'invalid'}`);
    return { geometry: geometry.data, text: textOf(a.data.body) };
  }
  const selectors = Array.isArray(a.data.target.selector) ? a.data.target.selector : [a.data.target.selector];
  const chosen = selectors.find((s) => s.type === 'SvgSelector') ?? selectors.find((s) => s.type === 'FragmentSelector');
  if (!chosen) throw new Error(`selector ${selectors[0]?.type ?? ''} is not supported (SvgSelector, FragmentSelector)`);
  const raw = chosen.type === 'SvgSelector' ? svgGeometry(chosen.value) : fragmentGeometry(chosen.value);
  const geometry = annotationGeometry.safeParse(raw);
  if (!geometry.success) throw new Error(`shape: ${geometry.error.issues[0]?.message ?? 'invalid'}`);
  return { geometry: geometry.data, text: textOf(a.data.body) };
}

function textOf(body: unknown): { title: string; comment: string } {
  const bodies = (Array.isArray(body) ? body : body === undefined ? [] : [body]).map((b) => textualBody.safeParse(b)).filter((b) => b.success).map((b) => b.data);
  const title = bodies.find((b) => b.purpose === 'tagging')?.value ?? '';
  const comment = bodies.find((b) => b.purpose === 'commenting' || b.purpose === 'describing' || b.purpose === undefined)?.value ?? '';
  const text = annotationText.safeParse({ title, comment });
  if (!text.success) throw new Error(`${text.error.issues[0]?.path.join('.')}: ${text.error.issues[0]?.message}`);
  return text.data;
}

function fragmentGeometry(value: string): unknown {
  const m = /^xywh=(?:pixel:)?(-?[\d.]+),(-?[\d.]+),([\d.]+),([\d.]+)$/.exec(value.trim());
  if (!m) throw new Error(`FragmentSelector "${value.slice(0, 60)}" is not xywh=pixel:x,y,w,h`);
  const [x, y, w, h] = m.slice(1).map(Number) as [number, number, number, number];
  if (w === 0 && h === 0) return { type: 'marker', points: [[x, y]] };
  return { type: 'rectangle', points: [[x, y], [x + w, y + h]] };
}

/** The one shape element of an SvgSelector (what we and Annotorious write); anything else is refused. */
function svgGeometry(svg: string): unknown {
  const shapes = [...svg.matchAll(/<(polygon|polyline|circle|rect|ellipse|path|line)\b([^>]*)>/g)];
  if (shapes.length !== 1) throw new Error('SvgSelector must hold exactly one polygon, polyline, circle or rect');
  const [, tag, attrText = ''] = shapes[0]!;
  const attrs = new Map([...attrText.matchAll(/([a-zA-Z-]+)\s*=\s*"([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as const));
  const n = (name: string) => {
    const v = Number(attrs.get(name));
    if (!attrs.has(name) || !Number.isFinite(v)) throw new Error(`<${tag}> needs a numeric ${name}`);
    return v;
  };
  const points = () => {
    const values = (attrs.get('points') ?? '').trim().split(/[\s,]+/).filter(Boolean).map(Number);
    if (values.length % 2 !== 0 || values.some((v) => !Number.isFinite(v))) throw new Error(`<${tag}> has malformed points`);
    const out: Array<[number, number]> = [];
    for (let i = 0; i < values.length; i += 2) out.push([values[i]!, values[i + 1]!]);
    return out;
  };
  switch (tag) {
    case 'polygon':
      return { type: 'polygon', points: points() };
    case 'polyline':
      return { type: 'line', points: points() };
    case 'line':
      return { type: 'line', points: [[n('x1'), n('y1')], [n('x2'), n('y2')]] };
    case 'circle': {
      const r = n('r');
      return r === 0 ? { type: 'marker', points: [[n('cx'), n('cy')]] } : { type: 'circle', points: [[n('cx'), n('cy')]], radius: r };
    }
    case 'rect':
      return { type: 'rectangle', points: [[n('x'), n('y')], [n('x') + n('width'), n('y') + n('height')]] };
    default:
      throw new Error(`<${tag}> is not supported (polygon, polyline, line, circle, rect)`);
  }
}
