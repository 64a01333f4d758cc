// Rankings: players ordered by the votes of their public videos, filtered by
// city, page by page. The filter lives in the URL (#/rankings?city=...), so a
// filtered ranking can be shared.
import { api } from '../api.js';
import { errorBox, formatNumber, h, pager } from '../dom.js';

const PAGE_SIZES = [10, 20, 50];

function intParam(params, name, fallback) {
  const n = Number.parseInt(params.get(name) || '', 10);
  return Number.isFinite(n) && n >= 1 ? n : fallback;
}

function hrefFor({ city, page, pageSize }) {
  const q = new URLSearchParams();
  if (city) q.set('city', city);
  if (page > 1) q.set('page', String(page));
  if (pageSize !== PAGE_SIZES[0]) q.set('page_size', String(pageSize));
  const s = q.toString();
  return s ? `#/rankings?${s}` : '#/rankings';
}

function positionCell(position) {
  const medal = position <= 3 ? ` medal medal-${position}` : '';
  return h('td', { class: 'position' }, h('span', { class: `position-badge${medal}` }, formatNumber(position)));
}

export function render(view, { params, signal, go }) {
  const city = (params.get('city') || '').trim();
  const page = intParam(params, 'page', 1);
  const pageSize = intParam(params, 'page_size', PAGE_SIZES[0]);

  const cityInput = h('input', { id: 'ranking-city', name: 'city', type: 'search', value: city, placeholder: 'Todas las ciudades', autocomplete: 'address-level2' });
  const sizeSelect = h('select', { id: 'ranking-page-size', name: 'page_size' },
    [...new Set([...PAGE_SIZES, pageSize])].sort((a, b) => a - b)
      .map((n) => h('option', { value: String(n), selected: n === pageSize }, String(n))));
  const form = h('form', { id: 'rankings-filter', class: 'filter-bar', role: 'search', 'aria-label': 'Filtrar rankings' },
    h('div', { class: 'field' }, h('label', { for: 'ranking-city' }, 'Ciudad'), cityInput),
    h('div', { class: 'field field-small' }, h('label', { for: 'ranking-page-size' }, 'Por página'), sizeSelect),
    h('div', { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'button button-primary' }, 'Filtrar'),
      city ? h('a', { class: 'button button-ghost-dark', href: hrefFor({ city: '', page: 1, pageSize }) }, 'Quitar filtro') : null));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // go also reloads when the filter did not change, so "Filtrar" refreshes.
    go(hrefFor({ city: cityInput.value.trim(), page: 1, pageSize: Number(sizeSelect.value) }).slice(2));
  });
  sizeSelect.addEventListener('change', () => form.requestSubmit());

  const content = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Cargando ranking…'));
  view.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Rankings')),
    h('p', { class: 'lead' }, 'Jugadores ordenados por el total de votos de sus videos públicos. Los más votados de cada ciudad serán invitados al Showcase.'),
    form,
    content));

  const query = { page, page_size: pageSize };
  if (city) query.city = city;
  api.rankings(query, signal).then(({ items: list, total, hasNext }) => {
    content.removeAttribute('aria-busy');
    const scope = city ? `en ${city}` : 'de todas las ciudades';
    if (!list.length) {
      content.replaceChildren(h('div', { class: 'empty' },
        h('p', {}, page > 1 ? 'No hay más jugadores en esta página.' : `Todavía no hay jugadores en el ranking ${scope}.`)));
      if (page > 1) content.append(pager({ page, hasNext: false, hrefFor: (p) => hrefFor({ city, page: p, pageSize }), label: 'Páginas del ranking' }));
      return;
    }
    content.replaceChildren(
      h('div', { class: 'table-wrap card' },
        h('table', { class: 'ranking-table' },
          h('caption', {}, `Ranking ${scope} · página ${formatNumber(page)}`
            + (total !== null ? ` · ${formatNumber(total)} ${total === 1 ? 'jugador' : 'jugadores'}` : '')),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Posición'),
            h('th', { scope: 'col' }, 'Jugador'),
            h('th', { scope: 'col' }, 'Ciudad'),
            h('th', { scope: 'col', class: 'num' }, 'Votos'))),
          h('tbody', {}, list.map((r) => h('tr', { dataset: { position: String(r.position) } },
            positionCell(r.position),
            h('th', { scope: 'row', class: 'player-cell' }, r.username),
            h('td', {}, r.city),
            h('td', { class: 'num votes' }, formatNumber(Number(r.votes) || 0))))))),
      pager({ page, hasNext, hrefFor: (p) => hrefFor({ city, page: p, pageSize }), label: 'Páginas del ranking' }));
  }).catch((err) => {
    if (signal.aborted) return;
    content.removeAttribute('aria-busy');
    content.replaceChildren(errorBox(err, { title: 'No pudimos cargar el ranking.' }));
  });
}
