/**
 * EXIF orientation without holding the image in memory.
 *
 * sharp 0.35.5 opens every input for sequential access: its JS side sends
 * `sequentialRead`, but the native side (src/common.cc) only reads that flag
 * when an `access` attribute is present, which the JS side never sets. Before
 * any rotate or vertical flip of a sequential image, sharp copies the WHOLE
 * decoded image into memory (StaySequential): measured 849 MB at 236 MP.
 *
 * So orientations 3..8 go through the tiled intermediate TIFF, which we open
 * for random access (setting the missing attribute on sharp's input
 * descriptor) and rotate/flip explicitly: libvips then reads only the TIFF
 * tiles each output strip needs (measured 159-190 MB at 236 MP).
 */
import sharp, { type Sharp, type SharpOptions } from 'sharp';

/** Needs more than a top-to-bottom read to display: a rotate or a vertical flip. */
export function orientationNeedsRandomAccess(orientation: number): boolean {
  return orientation >= 3 && orientation <= 8;
}

/** The operations that display an image stored with this EXIF orientation (sharp applies flip/flop before rotate). */
export function applyOrientation(image: Sharp, orientation: number): Sharp {
  switch (orientation) {
    case 1: return image;
    case 2: return image.flop();
    case 3: return image.rotate(180);
    case 4: return image.flip();
    case 5: return image.flip().rotate(90); // transpose
    case 6: return image.rotate(90);
    case 7: return image.flop().rotate(90); // transverse
    case 8: return image.rotate(270);
    default: throw new RangeError(`EXIF orientation must be 1..8, got ${orientation}`);
  }
}

interface SharpInternals { options?: { input?: Record<string, unknown> } }

/** Opens a file for random access, working around the sharp bug above. Only for seekable files (the tiled TIFF). */
export function openRandomAccess(path: string, options: SharpOptions): Sharp {
  const image = sharp(path, { ...options, sequentialRead: false, autoOrient: false });
  const descriptor = (image as unknown as SharpInternals).options?.input;
  if (descriptor === undefined || !('sequentialRead' in descriptor)) {
    // A sharp upgrade changed its internals: still correct, only the memory bound is lost.
    return image;
  }
  descriptor.access = true; // presence is what the native side checks; the value comes from sequentialRead
  return image;
}
