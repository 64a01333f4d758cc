// The public gallery: processed public videos, their players and votes.
import { api, posterURL, session } from '../api.js';
import { errorBox, formatNumber, h, pager, plural } from '../dom.js';

const PAGE_SIZE = 12;

function pageParam(params) {
  const n = Number.parseInt(params.get('page') || '1', 10);
  return Number.isFinite(n) && n >= 1 ? n : 1;
}

function votesText(n) {
  return plural(n, 'voto', 'votos');
}

function voteControl(video, card) {
  if (!session()) {
    return h('a', { class: 'button button-secondary vote-button', href: '#/login?next=gallery' }, 'Inicia sesión para votar');
  }
  const status = card.querySelector('.vote-status');
  const count = card.querySelector('.votes-count');
  const button = h('button', {
    type: 'button',
    class: 'button button-primary vote-button',
    'aria-describedby': status.id,
  });
  const markVoted = () => {
    button.disabled = true;
    button.classList.add('voted');
    button.textContent = '✓ Ya votaste';
    button.setAttribute('aria-label', `Ya votaste por ${video.title}`);
  };
  // A pending vote is stored but counts only once the voter's e-mail is verified.
  const markPending = (reason) => {
    button.disabled = true;
    button.classList.add('voted', 'vote-pending');
    button.textContent = '⏳ Voto pendiente';
    button.setAttribute('aria-label', `Tu voto por ${video.title} está pendiente`);
    status.replaceChildren(h('span', { class: 'vote-pending-note' },
      reason || 'Tu voto contará en el ranking cuando confirmes tu correo electrónico. ',
      h('a', { href: '#/profile' }, 'Ver mi perfil')));
  };
  if (video.vote_pending) {
    markPending();
    return button;
  }
  if (video.has_voted) {
    markVoted();
    return button;
  }
  button.textContent = 'Votar';
  button.setAttribute('aria-label', `Votar por ${video.title}`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = 'Votando…';
    status.replaceChildren();
    try {
      const res = await api.vote(video.video_id);
      if (res && res.pending) {
        markPending(`${res.message} ${res.pending_reason || ''} `);
        return;
      }
      const votes = (Number(count.dataset.votes) || 0) + 1;
      count.dataset.votes = String(votes);
      count.textContent = votesText(votes);
      markVoted();
      status.replaceChildren(h('span', { class: 'vote-ok' }, (res && res.message) || 'Voto registrado exitosamente.'));
    } catch (err) {
      if (err.sessionExpired) return;
      if (err.status === 400) {
        // Already voted (maybe from another tab): the button stays disabled.
        markVoted();
      } else {
        button.disabled = false;
        button.textContent = 'Votar';
      }
      status.replaceChildren(errorBox(err));
    }
  });
  return button;
}

function videoCard(video) {
  const id = video.video_id;
  const votes = Number(video.votes) || 0;
  const titleId = `title-${id}`;
  const card = h('article', { class: 'card video-card', 'aria-labelledby': titleId, dataset: { videoId: id } },
    h('div', { class: 'media' },
      h('video', {
        controls: true,
        preload: 'none',
        playsinline: true,
        poster: posterURL(id),
        src: video.processed_url,
        'aria-label': `Video: ${video.title}`,
      })),
    h('div', { class: 'card-body' },
      h('h2', { class: 'video-title', id: titleId }, video.title),
      h('p', { class: 'player-name' }, video.player_name || 'Jugador'),
      h('p', { class: 'player-place' }, [video.city, video.country].filter(Boolean).join(', ')),
      h('div', { class: 'vote-row' },
        h('span', { class: 'votes-count', dataset: { votes: String(votes) } }, votesText(votes)),
        h('span', { class: 'vote-slot' })),
      h('div', { class: 'vote-status', id: `vote-status-${id}`, 'aria-live': 'polite' })));
  card.querySelector('.vote-slot').replaceWith(voteControl(video, card));
  return card;
}

export function render(view, { params, signal }) {
  const page = pageParam(params);
  const content = h('div', { class: 'gallery-content', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Cargando videos…'));
  view.append(
    h('section', { class: 'hero' },
      h('p', { class: 'hero-kicker' }, 'Rising Stars Showcase'),
      h('h1', {}, 'Galería de jugadas'),
      h('p', { class: 'hero-lead' }, 'Mira los videos de los jugadores y vota por tus favoritos. Un voto por video: los más votados de cada ciudad llegan al Showcase.'),
      h('div', { class: 'hero-actions' },
        h('a', { class: 'button button-primary', href: '#/upload' }, 'Sube tu video'),
        h('a', { class: 'button button-ghost', href: '#/rankings' }, 'Ver rankings'))),
    h('section', { class: 'page', 'aria-label': 'Videos publicados' }, content));

  api.publicVideos({ page, page_size: PAGE_SIZE }, signal).then(({ items: list, total, hasNext }) => {
    content.removeAttribute('aria-busy');
    if (!list.length) {
      content.replaceChildren(h('div', { class: 'empty' },
        h('p', {}, page > 1 ? 'No hay más videos en esta página.' : 'Todavía no hay videos publicados. ¡Sé el primero en subir uno!'),
        page > 1
          ? h('a', { class: 'button button-secondary', href: '#/gallery' }, 'Volver a la primera página')
          : h('a', { class: 'button button-primary', href: '#/upload' }, 'Subir un video')));
      return;
    }
    content.replaceChildren(
      h('p', { class: 'result-count' }, `Mostrando ${formatNumber(list.length)} ${list.length === 1 ? 'video' : 'videos'}`
        + (total !== null ? ` de ${formatNumber(total)}` : '') + ` · página ${formatNumber(page)}`),
      h('div', { class: 'video-grid' }, list.map(videoCard)),
      pager({
        page,
        hasNext,
        hrefFor: (p) => `#/gallery?page=${p}`,
        label: 'Páginas de la galería',
      }));
  }).catch((err) => {
    if (signal.aborted || err.sessionExpired) return;
    content.removeAttribute('aria-busy');
    content.replaceChildren(errorBox(err, { title: 'No pudimos cargar la galería.' }));
  });
}
