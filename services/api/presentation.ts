/**
 * IIIF Presentation 3.0 documents (https://iiif.io/api/presentation/3.0/), pure:
 * a Manifest per finished image (one Canvas of its size, painted by the
 * image's IIIF image service, its annotations referenced as a W3C
 * AnnotationPage) and a Collection of the public ones, paged when large.
 * Every URL is absolute, built from the public origin (public-url.ts).
 */
import type { ImageDoc } from '../../shared/image-status.js';

export const PRESENTATION_CONTEXT = 'http://iiif.io/api/presentation/3/context.json';
export const PRESENTATION_MEDIA_TYPE = `application/ld+json;profile="${PRESENTATION_CONTEXT}"`;

type Lang = Record<string, string[]>;

const none = (text: string): Lang => ({ none: [text] });

export const manifestIdOf = (origin: string, id: string) => `${origin}/iiif/3/${id}/manifest.json`;
export const canvasIdOf = (origin: string, id: string) => `${origin}/iiif/3/${id}/canvas/1`;
const serviceIdOf = (origin: string, id: string) => `${origin}/iiif/3/${id}`;

function imageService(origin: string, id: string): Record<string, unknown> {
  return { id: serviceIdOf(origin, id), type: 'ImageService3', profile: 'level2' };
}

function labelOf(doc: ImageDoc): Lang {
  return none(doc.title || doc.source.filename || `Image ${doc._id}`);
}

/** A thumbnail of at most 256 px on its longer side (never enlarged), rendered (and cached) by the image service, named in canonical form. */
function thumbnailOf(origin: string, doc: ImageDoc & { width: number; height: number }): Record<string, unknown> {
  const scale = Math.min(1, 256 / Math.max(doc.width, doc.height));
  const width = Math.max(1, Math.round(doc.width * scale));
  const height = Math.max(1, Math.round(doc.height * scale));
  return {
    id: `${serviceIdOf(origin, doc._id)}/full/${scale === 1 ? 'max' : `${width},${height}`}/0/default.jpg`,
    type: 'Image',
    format: 'image/jpeg',
    width,
    height,
    service: [imageService(origin, doc._id)],
  };
}

/** `doc` must be finished (width and height known). */
export function manifestOf(origin: string, doc: ImageDoc & { width: number; height: number }): Record<string, unknown> {
  const id = doc._id;
  const canvas = canvasIdOf(origin, id);
  const manifest: Record<string, unknown> = {
    '@context': PRESENTATION_CONTEXT,
    id: manifestIdOf(origin, id),
    type: 'Manifest',
    label: labelOf(doc),
  };
  if (doc.tags?.length) manifest.summary = none(doc.tags.join(', '));
  Object.assign(manifest, {
    thumbnail: [thumbnailOf(origin, doc)],
    homepage: [{ id: `${origin}/v/${id}`, type: 'Text', label: labelOf(doc), format: 'text/html' }],
    items: [
      {
        id: canvas,
        type: 'Canvas',
        label: labelOf(doc),
        width: doc.width,
        height: doc.height,
        items: [
          {
            id: `${canvas}/page/1`,
            type: 'AnnotationPage',
            items: [
              {
                id: `${canvas}/page/1/image`,
                type: 'Annotation',
                motivation: 'painting',
                target: canvas,
                body: {
                  id: `${serviceIdOf(origin, id)}/full/max/0/default.jpg`,
                  type: 'Image',
                  format: 'image/jpeg',
                  width: doc.width,
                  height: doc.height,
                  service: [imageService(origin, id)],
                },
              },
            ],
          },
        ],
        // Fetched when shown, so a manifest stays small however many shapes the image has.
        annotations: [{ id: `${origin}/api/v1/images/${id}/annotations?format=w3c`, type: 'AnnotationPage' }],
      },
    ],
  });
  return manifest;
}

/** A Collection of manifests (one page of them), or of the pages themselves when `pages` is given. */
export function collectionOf(
  origin: string,
  opts: { id: string; label: string; manifests?: Array<ImageDoc & { width: number; height: number }>; pages?: Array<{ id: string; label: string }> },
): Record<string, unknown> {
  const items = opts.pages
    ? opts.pages.map((p) => ({ id: p.id, type: 'Collection', label: none(p.label) }))
    : (opts.manifests ?? []).map((doc) => ({ id: manifestIdOf(origin, doc._id), type: 'Manifest', label: labelOf(doc), thumbnail: [thumbnailOf(origin, doc)] }));
  return { '@context': PRESENTATION_CONTEXT, id: opts.id, type: 'Collection', label: none(opts.label), items };
}
