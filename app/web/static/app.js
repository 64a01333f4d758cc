// The page: a hash router (#/gallery, #/login, ...) so the server only serves
// one document, plus the header (navigation and session) and flash messages.
import { clearSession, session, setSessionExpiredHandler } from './api.js';
import { h } from './dom.js';
import * as auth from './pages/auth.js';
import * as gallery from './pages/gallery.js';
import * as mine from './pages/mine.js';
import * as profile from './pages/profile.js';
import * as rankings from './pages/rankings.js';
import * as uploadPage from './pages/upload.js';

const routes = {
  gallery: { title: 'Galería', render: gallery.render },
  rankings: { title: 'Rankings', render: rankings.render },
  upload: { title: 'Subir video', render: uploadPage.render, needsLogin: true },
  mine: { title: 'Mis videos', render: mine.render, needsLogin: true },
  profile: { title: 'Mi perfil', render: profile.render, needsLogin: true },
  login: { title: 'Iniciar sesión', render: auth.renderLogin },
  signup: { title: 'Registrarse', render: auth.renderSignup },
};

const defaultRoute = 'gallery';

let pendingFlash = null;
let current = null; // {controller, cleanup}

// flash shows a message at the top of the next page that renders (or of the
// current one when now is true).
function flash(text, kind = 'info', { now = false } = {}) {
  pendingFlash = { text, kind };
  if (now) showFlash();
}

function showFlash() {
  const region = document.getElementById('flash');
  region.replaceChildren();
  if (!pendingFlash) return;
  const { text, kind } = pendingFlash;
  pendingFlash = null;
  region.append(h('div', { class: `alert alert-${kind}` },
    h('p', { class: 'alert-message' }, text),
    h('button', { type: 'button', class: 'alert-close', 'aria-label': 'Cerrar aviso', onclick: () => region.replaceChildren() }, '×')));
}

function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [name, query = ''] = raw.split('?');
  return { name: name || defaultRoute, params: new URLSearchParams(query) };
}

// safeNext keeps a "next" parameter to known routes only.
function safeNext(value, fallback = defaultRoute) {
  const name = (value || '').split('?')[0];
  return routes[name] && name !== 'login' && name !== 'signup' ? value : fallback;
}

function go(route) {
  const target = `#/${route}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function renderAccount() {
  const box = document.getElementById('account');
  const s = session();
  if (s) {
    box.replaceChildren(
      h('a', { class: 'account-user', href: '#/profile', 'data-route': 'profile', title: 'Mi perfil' }, s.email || 'Mi perfil'),
      h('button', {
        type: 'button', class: 'button button-ghost', id: 'logout',
        onclick: () => {
          clearSession();
          flash('Cerraste sesión. ¡Vuelve pronto!', 'info');
          go('login');
        },
      }, 'Cerrar sesión'));
  } else {
    box.replaceChildren(
      h('a', { class: 'button button-ghost', href: '#/login', 'data-route': 'login' }, 'Iniciar sesión'),
      h('a', { class: 'button button-primary', href: '#/signup', 'data-route': 'signup' }, 'Registrarse'));
  }
}

function markActive(name) {
  for (const a of document.querySelectorAll('[data-route]')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function render() {
  if (current) {
    current.controller.abort();
    if (typeof current.cleanup === 'function') current.cleanup();
    current = null;
  }
  const { name, params } = parseHash();
  const route = routes[name];
  const view = document.getElementById('view');
  renderAccount();
  markActive(name);

  if (route && route.needsLogin && !session()) {
    flash('Inicia sesión para continuar.', 'info');
    location.replace(`#/login?next=${encodeURIComponent(name)}`);
    return;
  }
  showFlash();
  view.replaceChildren();
  document.title = `${route ? route.title : 'Página no encontrada'} · ANB Rising Stars`;
  const controller = new AbortController();
  current = { controller, cleanup: null };
  if (!route) {
    view.append(h('section', { class: 'page' },
      h('h1', { tabindex: '-1' }, 'Página no encontrada'),
      h('p', {}, 'La dirección no existe. ', h('a', { href: '#/gallery' }, 'Ir a la galería'), '.')));
  } else {
    current.cleanup = route.render(view, { params, signal: controller.signal, flash, go, safeNext });
  }
  // Move keyboard and screen-reader focus to the new page, except on the
  // first load, where the skip link should come first.
  const heading = view.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    if (initialRenderDone) heading.focus({ preventScroll: true });
  }
  initialRenderDone = true;
  window.scrollTo(0, 0);
}

let initialRenderDone = false;

setSessionExpiredHandler(() => {
  flash('Tu sesión ha expirado o no es válida. Inicia sesión de nuevo.', 'warning');
  const { name } = parseHash();
  const next = safeNext(name, '');
  location.hash = next ? `#/login?next=${encodeURIComponent(next)}` : '#/login';
});

window.addEventListener('hashchange', render);
window.addEventListener('storage', (e) => {
  // Logging in or out in another tab changes the header here too.
  if (e.key === null || e.key === 'anb.session') renderAccount();
});
render();
