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
  cache: DiskCache;
  scaler: ScalerDeps;
  /** Renders (scaled images and composed IIIF answers) running at once in this process. */
  renders: RenderLimit;
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
      renders: new RenderLimit(CONCURRENT_RENDERS),
    };
    made.set(deps, scaling);
  }
  return scaling;
}
