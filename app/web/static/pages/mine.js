// My videos: status that refreshes by itself until every video is processed
// or failed, the failure reason, a player, and delete where the API allows it.
import { api } from '../api.js';
import { errorBox, formatDate, h, successBox } from '../dom.js';

const POLL_MS = 3000;

const statusLabels = {
  uploaded: 'En cola',
  processing: 'Procesando',
  processed: 'Listo',
  failed: 'Falló',
};

const pending = (v) => v.status === 'uploaded' || v.status === 'processing';

// A video published for voting (public and processed) cannot be deleted.
const canDelete = (v) => !(v.is_public && v.status === 'processed');

function statusBadge(v) {
  return h('span', { class: `badge status status-${v.status}`, dataset: { status: v.status } },
    statusLabels[v.status] || v.status);
}

function deleteControls(v, card, onDeleted) {
  const area = h('div', { class: 'delete-area' });
  const message = card.querySelector('.card-message');
  const ask = h('button', { type: 'button', class: 'button button-danger-ghost delete-button' }, 'Eliminar');
  ask.setAttribute('aria-label', `Eliminar ${v.title}`);
  const showAsk = () => {
    area.replaceChildren(ask);
  };
  ask.addEventListener('click', () => {
    const confirm = h('button', { type: 'button', class: 'button button-danger confirm-delete' }, 'Sí, eliminar');
    const keep = h('button', { type: 'button', class: 'button button-ghost-dark' }, 'Cancelar');
    keep.addEventListener('click', () => {
      showAsk();
      ask.focus();
    });
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      keep.disabled = true;
      confirm.textContent = 'Eliminando…';
      try {
        const res = await api.deleteVideo(v.video_id);
        onDeleted(v, (res && res.message) || 'El video ha sido eliminado exitosamente.');
      } catch (err) {
        if (err.sessionExpired) return;
        showAsk();
        message.replaceChildren(errorBox(err, { title: 'No pudimos eliminar el video.' }));
      }
    });
    area.replaceChildren(h('p', { class: 'confirm-text' }, '¿Eliminar este video y sus archivos? No se puede deshacer.'), confirm, keep);
    confirm.focus();
  });
  showAsk();
  return area;
}

function media(v) {
  if (v.status === 'processed' && v.processed_url) {
    return h('video', {
      controls: true,
      preload: 'metadata',
      playsinline: true,
      // Signed links from the API: they open this one file for a few minutes.
      poster: v.poster_url,
      src: v.processed_url,
      'aria-label': `Video: ${v.title}`,
    });
  }
  if (v.status === 'failed') {
    return h('div', { class: 'player-placeholder failed' }, h('span', {}, 'No se pudo procesar'));
  }
  return h('div', { class: 'player-placeholder working' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('span', {}, v.status === 'processing' ? 'Procesando tu video…' : 'En cola para procesar…'));
}

function videoCard(v, onDeleted) {
  const titleId = `mine-title-${v.video_id}`;
  const card = h('article', {
    class: 'card video-card mine',
    'aria-labelledby': titleId,
    dataset: { videoId: v.video_id, status: v.status },
  },
  h('div', { class: 'media' }, media(v)),
  h('div', { class: 'card-body' },
    h('h2', { class: 'video-title', id: titleId }, v.title),
    h('p', { class: 'badges' },
      statusBadge(v),
      h('span', { class: `badge visibility ${v.is_public ? 'public' : 'private'}` }, v.is_public ? 'Público' : 'Privado')),
    h('dl', { class: 'meta' },
      h('dt', {}, 'Subido'), h('dd', {}, formatDate(v.uploaded_at)),
      v.processed_at ? [h('dt', {}, 'Procesado'), h('dd', {}, formatDate(v.processed_at))] : null),
    v.status === 'failed'
      ? h('p', { class: 'failure-reason' }, h('strong', {}, 'Motivo: '), v.error || 'El procesamiento falló sin más detalles.')
      : null,
    pending(v) ? h('p', { class: 'hint' }, 'El estado se actualiza solo.') : null,
    h('div', { class: 'card-message', 'aria-live': 'polite' }),
    canDelete(v)
      ? h('div', { class: 'delete-slot' })
      : h('p', { class: 'hint locked' }, 'Publicado para votación: no se puede eliminar.')));
  const slot = card.querySelector('.delete-slot');
  if (slot) slot.replaceWith(deleteControls(v, card, onDeleted));
  return card;
}

export function render(view, { signal }) {
  const content = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Cargando tus videos…'));
  const messages = h('div', { class: 'page-messages' });
  const announcer = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  view.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' },
      h('h1', {}, 'Mis videos'),
      h('a', { class: 'button button-primary', href: '#/upload' }, 'Subir video')),
    messages,
    announcer,
    content));

  // cards keeps one element per video, rebuilt only when the video changes,
  // so a video that is playing is left alone by the refresh.
  const cards = new Map(); // video_id -> {key, el}
  const grid = h('div', { class: 'video-grid' });
  let timer = null;

  const onDeleted = (v, text) => {
    cards.get(v.video_id)?.el.remove();
    cards.delete(v.video_id);
    messages.replaceChildren(successBox(text));
    if (!cards.size) showEmpty();
  };

  const showEmpty = () => {
    content.replaceChildren(h('div', { class: 'empty' },
      h('p', {}, 'Aún no has subido videos.'),
      h('a', { class: 'button button-primary', href: '#/upload' }, 'Subir mi primer video')));
  };

  const update = (videos) => {
    content.removeAttribute('aria-busy');
    if (!videos.length) {
      cards.clear();
      showEmpty();
      return;
    }
    const seen = new Set();
    const changed = [];
    const els = videos.map((v) => {
      seen.add(v.video_id);
      const key = JSON.stringify(v);
      const old = cards.get(v.video_id);
      if (old && old.key === key) return old.el;
      if (old && old.status !== v.status) changed.push(`«${v.title}»: ${statusLabels[v.status] || v.status}`);
      const el = videoCard(v, onDeleted);
      cards.set(v.video_id, { key, el, status: v.status });
      if (old) old.el.replaceWith(el);
      return el;
    });
    for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
    const same = grid.children.length === els.length && els.every((el, i) => grid.children[i] === el);
    if (!same) grid.replaceChildren(...els);
    if (grid.parentNode !== content) content.replaceChildren(grid);
    if (changed.length) announcer.textContent = changed.join('. ');
  };

  const load = async () => {
    timer = null;
    try {
      const { items: list, total } = await api.myVideos(signal);
      if (signal.aborted) return;
      update(list);
      if (total !== null && total > list.length) {
        announcer.textContent = `Mostrando tus ${list.length} videos más recientes de ${total}.`;
      }
      messages.querySelector('.poll-error')?.remove();
      if (list.some(pending)) timer = setTimeout(load, POLL_MS);
    } catch (err) {
      if (signal.aborted || err.sessionExpired) return;
      content.removeAttribute('aria-busy');
      if (cards.size) {
        // Keep what we have and try again: a refresh failing is not fatal.
        messages.querySelector('.poll-error')?.remove();
        const box = errorBox(err, { title: 'No pudimos actualizar el estado; reintentando…' });
        box.classList.add('poll-error');
        messages.append(box);
        timer = setTimeout(load, POLL_MS * 2);
      } else {
        content.replaceChildren(errorBox(err, { title: 'No pudimos cargar tus videos.' }),
          h('button', { type: 'button', class: 'button button-secondary', onclick: () => { content.replaceChildren(h('p', { class: 'loading' }, 'Cargando tus videos…')); load(); } }, 'Reintentar'));
      }
    }
  };
  load();
  return () => {
    if (timer) clearTimeout(timer);
  };
}
