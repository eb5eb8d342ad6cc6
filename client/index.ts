/** `hugemap/client`: a typed client for the hugemap HTTP API. */
export { HugemapClient, type HugemapClientOptions, type ImageInput } from './hugemap-client.js';
export { HugemapApiError, HugemapTimeoutError } from './errors.js';
export type { ImageInfo, ImageState, SavedImage, SaveOptions, ScaledFormat, ScaledUrlOptions } from './types.js';
export { signSize } from '../shared/scaled-signature.js';
