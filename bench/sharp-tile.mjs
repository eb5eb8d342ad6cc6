// Contender "sharp .tile()": sharp's own Deep Zoom output as its README shows it, with the same
// tile geometry and JPEG quality as the others, and both cores (sharp picks 1 thread on glibc).
// Plain JavaScript so no TypeScript loader is timed. Usage: node sharp-tile.mjs IN OUTDIR
import sharp from 'sharp';

const [input, out] = process.argv.slice(2);
sharp.concurrency(2);
await sharp(input, { limitInputPixels: false })
  .jpeg({ quality: 85 })
  .tile({ size: 256, overlap: 0, layout: 'dz' })
  .toFile(`${out}/image`);
