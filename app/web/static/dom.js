// Small DOM helpers. Everything the API returns is inserted as text, never as
// HTML, so a title or a name cannot inject markup.

// h builds an element: h('a', {href: '#/x', class: 'button'}, 'texto', child).
// Attributes set to null, undefined or false are skipped; true sets an empty
// attribute; keys starting with "on" add event listeners.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      // An attribute, not a property, so that form.reset() restores it.
      el.setAttribute(key, '');
    } else if (key in el && typeof value !== 'string') {
      el[key] = value;
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Spanish names of the fields the API may mention in `details`.
const fieldNames = {
  first_name: 'Nombre',
  last_name: 'Apellido',
  email: 'Correo electrónico',
  password: 'Contraseña',
  password1: 'Contraseña',
  password2: 'Confirmación de contraseña',
  city: 'Ciudad',
  country: 'País',
  title: 'Título',
  video_file: 'Archivo de video',
  is_public: 'Visibilidad',
  page: 'Página',
  page_size: 'Resultados por página',
  video_id: 'Video',
};

function fieldLabel(name) {
  return fieldNames[name] || name;
}

// detailText turns one value of `details` (a string, a list, an object or a
// number) into readable text.
function detailText(value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(detailText).filter(Boolean).join(' ');
  if (typeof value === 'object') {
    return Object.entries(value).map(([k, v]) => `${fieldLabel(k)}: ${detailText(v)}`).join('; ');
  }
  return String(value);
}

// errorBox shows an API error: its message and each per-field detail.
export function errorBox(err, { title } = {}) {
  const details = err && err.details && typeof err.details === 'object' ? Object.entries(err.details) : [];
  return h('div', { class: 'alert alert-error', role: 'alert' },
    title ? h('p', { class: 'alert-title' }, title) : null,
    h('p', { class: 'alert-message' }, (err && err.message) || 'Ocurrió un error inesperado.'),
    details.length
      ? h('ul', { class: 'alert-details' },
        details.map(([field, value]) => h('li', { dataset: { field } },
          h('strong', {}, `${fieldLabel(field)}: `), detailText(value))))
      : null);
}

export function successBox(text, ...extra) {
  return h('div', { class: 'alert alert-success', role: 'status' }, h('p', { class: 'alert-message' }, text), ...extra);
}

// field renders a labelled input with a slot for its error message.
export function field({ name, label, type = 'text', hint, ...attrs }) {
  const id = attrs.id || `f-${name}`;
  const hintId = hint ? `${id}-hint` : null;
  const errId = `${id}-error`;
  const input = h('input', { id, name, type, 'aria-describedby': [hintId, errId].filter(Boolean).join(' '), ...attrs });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errId, hidden: true }));
}

// setFieldErrors marks the inputs of the form named in errors ({name: text})
// and clears the others. It returns how many errors it could place.
export function setFieldErrors(form, errors = {}) {
  let placed = 0;
  for (const el of form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  let first = null;
  for (const [name, value] of Object.entries(errors || {})) {
    const control = form.elements.namedItem(name);
    const input = control instanceof RadioNodeList ? control[0] : control;
    if (!input) continue;
    const slot = form.querySelector(`#${CSS.escape(input.id)}-error`) || form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    input.setAttribute('aria-invalid', 'true');
    if (slot) {
      slot.textContent = detailText(value);
      slot.hidden = false;
    }
    first = first || input;
    placed++;
  }
  return first;
}

const dateFormat = new Intl.DateTimeFormat('es', { dateStyle: 'medium', timeStyle: 'short' });
const numberFormat = new Intl.NumberFormat('es');

export function formatDate(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : dateFormat.format(d);
}

export function formatNumber(n) {
  return numberFormat.format(n);
}

export function formatBytes(n) {
  if (n < 1024 * 1024) return `${formatNumber(Math.max(1, Math.round(n / 1024)))} KB`;
  return `${new Intl.NumberFormat('es', { maximumFractionDigits: 1 }).format(n / (1024 * 1024))} MB`;
}

export function plural(n, one, many) {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

// pager renders "Anterior / Página N / Siguiente" links for hash routes,
// or nothing (an empty fragment) when everything fits on the first page.
export function pager({ page, hasNext, hrefFor, label }) {
  if (page <= 1 && !hasNext) return document.createDocumentFragment();
  return h('nav', { class: 'pager', 'aria-label': label },
    page > 1
      ? h('a', { class: 'button button-secondary', href: hrefFor(page - 1), rel: 'prev' }, '← Anterior')
      : h('span', { class: 'button button-ghost-dark', 'aria-disabled': 'true' }, '← Anterior'),
    h('span', { class: 'pager-current', 'aria-current': 'page' }, `Página ${formatNumber(page)}`),
    hasNext
      ? h('a', { class: 'button button-secondary', href: hrefFor(page + 1), rel: 'next' }, 'Siguiente →')
      : h('span', { class: 'button button-ghost-dark', 'aria-disabled': 'true' }, 'Siguiente →'));
}
