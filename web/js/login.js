// Sign-in page: posts the name and password as JSON, then goes on to `next`
// (a path on this site only, so a crafted link cannot send anyone elsewhere).
import './header.js';
import { api } from './common.js';

/** `next` if it is a path on this site ("/x", never "//host" or "/\host"), else the gallery. */
export function safeNext(value) {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/gallery';
  const url = new URL(value, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : '/gallery';
}

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.textContent = '';
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api('/api/v1/session', { method: 'POST', body: { name: form.elements.name.value, password: form.elements.password.value } });
    location.href = safeNext(new URLSearchParams(location.search).get('next'));
  } catch (err) {
    error.textContent =
      err.status === 401 ? 'Wrong name or password.' : err.status === 429 ? 'Too many attempts: wait a while and try again.' : `Could not sign in: ${err.message}`;
    button.disabled = false;
    form.elements.password.select();
  }
});
