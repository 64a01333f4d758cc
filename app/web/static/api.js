// The REST API client and the session (JWT in localStorage).

const SESSION_KEY = 'anb.session';

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.details = details && typeof details === 'object' ? details : null;
  }
}

let onExpired = () => {};

// setSessionExpiredHandler registers what happens when an authenticated call
// answers 401: the app sends the user to the login page.
export function setSessionExpiredHandler(fn) {
  onExpired = fn;
}

export function session() {
  let s = null;
  try {
    s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    s = null;
  }
  if (!s || typeof s.token !== 'string' || !s.token) return null;
  if (s.expiresAt && Date.now() >= s.expiresAt) {
    clearSession();
    return null;
  }
  return s;
}

export function saveSession({ access_token: token, expires_in: expiresIn }, email) {
  const s = { token, email };
  if (Number.isFinite(expiresIn) && expiresIn > 0) s.expiresAt = Date.now() + expiresIn * 1000;
  localStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

function expire() {
  clearSession();
  onExpired();
}

// posterURL is the poster of a public video. A private video's files are
// reached through the signed links of its JSON (poster_url, processed_url):
// a <video> or <img> cannot send the token, and a token never goes in a URL.
export function posterURL(videoId) {
  return `/api/videos/${encodeURIComponent(videoId)}/poster`;
}

// paging reads X-Total-Count and the Link header (rel="next"/"prev") of a list.
function paging(res, items) {
  const total = Number.parseInt(res.headers.get('X-Total-Count') || '', 10);
  const link = res.headers.get('Link') || '';
  const has = (rel) => new RegExp(`rel="?${rel}"?`).test(link);
  return { items: Array.isArray(items) ? items : [], total: Number.isFinite(total) ? total : null, hasNext: has('next'), hasPrev: has('prev') };
}

// toApiError reads the JSON error body {"message", "details"}; anything else
// (a proxy page, an empty body) still becomes a readable message.
function toApiError(status, data) {
  if (data && typeof data === 'object' && typeof data.message === 'string' && data.message.trim()) {
    return new ApiError(status, data.message, data.details);
  }
  return new ApiError(status, fallbackMessage(status));
}

function fallbackMessage(status) {
  switch (status) {
    case 401: return 'Tu sesión no es válida. Inicia sesión de nuevo.';
    case 403: return 'No tienes permiso para hacer esto.';
    case 404: return 'No encontramos lo que buscabas.';
    case 413: return 'El archivo es demasiado grande.';
    case 429: return 'Demasiadas solicitudes. Espera un momento e inténtalo de nuevo.';
    default:
      return status >= 500
        ? `El servidor tuvo un problema (HTTP ${status}). Inténtalo de nuevo en unos minutos.`
        : `La solicitud no se pudo completar (HTTP ${status}).`;
  }
}

const networkError = () => new ApiError(0, 'No se pudo conectar con el servidor. Revisa tu conexión e inténtalo de nuevo.');

function parseJSON(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// request calls the API. auth: 'required' sends the token and needs one,
// 'optional' sends it when there is one, 'none' never sends it.
// paged: the answer is a list; it resolves to {items, total, hasNext, hasPrev}.
async function request(path, { method = 'GET', body, auth = 'none', signal, paged = false } = {}) {
  const headers = { Accept: 'application/json' };
  const s = auth === 'none' ? null : session();
  if (auth === 'required' && !s) {
    expire();
    throw new ApiError(401, 'Inicia sesión para continuar.');
  }
  if (s) headers.Authorization = `Bearer ${s.token}`;
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw networkError();
  }
  const data = parseJSON(await res.text().catch(() => ''));
  if (!res.ok) {
    const err = toApiError(res.status, data);
    if (res.status === 401 && s) {
      err.sessionExpired = true;
      expire();
    }
    throw err;
  }
  return paged ? paging(res, data) : data;
}

// upload sends the multipart form with XMLHttpRequest, whose upload progress
// events drive the progress bar. It returns {promise, abort}.
export function upload(formData, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const s = session();
    if (!s) {
      expire();
      reject(new ApiError(401, 'Inicia sesión para continuar.'));
      return;
    }
    xhr.open('POST', '/api/videos/upload');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Authorization', `Bearer ${s.token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      const data = parseJSON(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
        return;
      }
      const err = toApiError(xhr.status, data);
      if (xhr.status === 401) {
        err.sessionExpired = true;
        expire();
      }
      reject(err);
    };
    xhr.onerror = () => reject(networkError());
    xhr.onabort = () => {
      const err = new ApiError(0, 'Subida cancelada.');
      err.aborted = true;
      reject(err);
    };
    xhr.send(formData);
  });
  return { promise, abort: () => xhr.abort() };
}

export const api = {
  signup: (body) => request('/api/auth/signup', { method: 'POST', body }),
  login: (body) => request('/api/auth/login', { method: 'POST', body }),
  myVideos: (signal) => request('/api/videos', { auth: 'required', signal, paged: true }),
  deleteVideo: (id) => request(`/api/videos/${encodeURIComponent(id)}`, { method: 'DELETE', auth: 'required' }),
  publicVideos: (params, signal) => request(`/api/public/videos?${new URLSearchParams(params)}`, { auth: 'optional', signal, paged: true }),
  vote: (id) => request(`/api/public/videos/${encodeURIComponent(id)}/vote`, { method: 'POST', auth: 'required' }),
  rankings: (params, signal) => request(`/api/public/rankings?${new URLSearchParams(params)}`, { signal, paged: true }),
  me: (signal) => request('/api/auth/me', { auth: 'required', signal }),
  resendVerification: () => request('/api/auth/verification', { method: 'POST', auth: 'required' }),
};
