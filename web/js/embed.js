// Embed page: an iframe snippet for the chosen size, and a live preview of it.
import './header.js';
import { imageTitle, pageData } from './common.js';

const { image } = pageData();
const snippet = document.getElementById('snippet');
const preview = document.getElementById('preview');
const customWidth = document.getElementById('custom-width');
const customHeight = document.getElementById('custom-height');
const hideAnnotations = document.getElementById('hide-annotations');

const attr = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const clamp = (v, lo, hi, fallback) => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : fallback);

function size() {
  const chosen = document.querySelector('input[name="size"]:checked')?.value ?? '1024x768';
  if (chosen === 'custom') {
    return [clamp(Number(customWidth.value), 100, 4000, 640), clamp(Number(customHeight.value), 100, 4000, 480)];
  }
  return chosen.split('x').map(Number);
}

function render() {
  const [width, height] = size();
  const src = new URL(`/v/${image.id}`, location.origin);
  src.searchParams.set('embedded', '1');
  if (hideAnnotations.checked) src.searchParams.set('annotations', '0');
  const html = `<iframe src="${attr(src.href)}" width="${width}" height="${height}" style="border:0;max-width:100%" allow="fullscreen" allowfullscreen loading="lazy" title="${attr(imageTitle(image))}"></iframe>`;
  snippet.value = html;
  preview.innerHTML = html;
}

document.querySelectorAll('input[name="size"]').forEach((r) => r.addEventListener('change', render));
for (const input of [customWidth, customHeight]) {
  input.addEventListener('input', () => {
    document.querySelector('input[name="size"][value="custom"]').checked = true;
    render();
  });
}
hideAnnotations.addEventListener('change', render);
document.getElementById('copy').addEventListener('click', async () => {
  snippet.select();
  try {
    await navigator.clipboard.writeText(snippet.value);
  } catch {
    document.execCommand('copy');
  }
  document.getElementById('copied').textContent = 'copied';
});
render();
