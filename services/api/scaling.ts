/**
 * The scaling service of one app: size policy (presets, signatures, maximum),
 * the disk cache and what the scaler needs. Made once per ApiDeps and shared
 * by the routes that render (/i, /iiif) and those that only describe sizes.
 */
import path from 'node:path';
import type { ApiDeps } from './deps.js';
import { DiskCache } from '../scaling/disk-cache.js';
import { RenderLimit } from '../scaling/render-limit.js';
import type { ScalerDeps } from '../scaling/scaler.js';
import { SizePolicy } from '../scaling/size-access.js';

export interface Scaling {
  policy: SizePolicy;
  /** Scaled sizes and composed IIIF answers, keyed `{id}/...` so deleting an image purges both. */
  cache: DiskCache;
  scaler: ScalerDeps;
  /** Scaled-size renders (/i/) running at once in this process. */
  renders: RenderLimit;
  /**
   * IIIF renders, in slots and a queue of their own: any IIIF client can ask for
   * endless distinct regions, and those must not hold up the presets pages show.
   */
  iiifRenders: RenderLimit;
}

/** Two at a time: the machine's cores, and peak memory about twice one large render's. */
const CONCURRENT_RENDERS = 2;

const made = new WeakMap<ApiDeps, Scaling>();

export function scalingFor(deps: ApiDeps): Scaling {
  let scaling = made.get(deps);
  if (!scaling) {
    const { scale } = deps.config;
    scaling = {
      policy: new SizePolicy(deps.config),
      cache: new DiskCache(scale.cacheDir, scale.cacheMaxBytes),
      scaler: { s3: deps.s3, maxPixels: deps.config.maxPixels, tmpDir: path.join(scale.cacheDir, 'tmp') },
      renders: new RenderLimit(CONCURRENT_RENDERS, scale.renderQueue, 'scaled-image renders'),
      iiifRenders: new RenderLimit(scale.iiifRenders, scale.iiifRenderQueue, 'IIIF renders'),
    };
    made.set(deps, scaling);
  }
  return scaling;
}
