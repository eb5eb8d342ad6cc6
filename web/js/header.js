// The header on every page: the menu button that folds the links on a narrow
// screen, and sign-out. Imported by every page's module.
import { api } from './common.js';

/** A button that shows and hides the element its aria-controls names (the menus on narrow screens). */
export function disclosure(button, { onToggle } = {}) {
  if (!button) return;
  const target = document.getElementById(button.getAttribute('aria-controls'));
  const set = (open) => {
    button.setAttribute('aria-expanded', String(open));
    target.classList.toggle('open', open);
    onToggle?.(open);
  };
  button.addEventListener('click', () => set(button.getAttribute('aria-expanded') !== 'true'));
  // Choosing something in the menu closes it (what was chosen may open something else, or leave the page).
  target.addEventListener('click', (e) => {
    if (button.getAttribute('aria-expanded') === 'true' && e.target.closest('a, button')) set(false);
  });
  // Escape closes an open menu (with the focus on its button or in it) and gives the focus back to its button.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || button.getAttribute('aria-expanded') !== 'true') return;
    if (document.activeElement !== button && !target.contains(document.activeElement)) return;
    set(false);
    button.focus();
  });
  return set;
}

disclosure(document.getElementById('menu-button'));

document.getElementById('sign-out')?.addEventListener('click', async () => {
  try {
    await api('/api/v1/session', { method: 'DELETE' });
  } finally {
    location.href = '/gallery';
  }
});
