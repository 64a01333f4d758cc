// Upload: title, file, public/private, and a progress bar fed by the upload
// progress events of XMLHttpRequest. The checks here only save the user a
// long wait; the server decides.
import { upload } from '../api.js';
import { errorBox, field, formatBytes, h, setFieldErrors, successBox } from '../dom.js';

// The limits of the API (100 MB; titles up to 200 characters).
const MAX_BYTES = 100 * 1024 * 1024;
const MAX_TITLE = 200;

// The API refuses QuickTime movies (major brand "qt  "), whatever their
// name; the page says the same before a long upload.
const quickTimeMessage = (name) => `«${name}» es un video QuickTime (.mov), no MP4. `
  + 'Expórtalo o conviértelo a MP4 (H.264) desde tu editor o el teléfono, y súbelo de nuevo.';

function checkFile(file) {
  if (!file) return 'Elige un archivo de video.';
  if (file.type === 'video/quicktime' || /\.mov$/i.test(file.name)) return quickTimeMessage(file.name);
  const isMP4 = file.type === 'video/mp4' || (!file.type && /\.mp4$/i.test(file.name));
  if (!isMP4) return `«${file.name}» no es un video MP4. Sube un archivo .mp4.`;
  if (file.size === 0) return 'El archivo está vacío.';
  if (file.size > MAX_BYTES) return `El archivo pesa ${formatBytes(file.size)}; el máximo es 100 MB.`;
  return '';
}

// checkContent reads the file's first bytes: a .mov renamed .mp4 still
// starts with an ftyp box of brand "qt  ".
async function checkContent(file) {
  const problem = checkFile(file);
  if (problem) return problem;
  try {
    const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
    const text = String.fromCharCode(...head.subarray(4, 12));
    if (text === 'ftypqt  ') return quickTimeMessage(file.name);
  } catch {
    // Unreadable here: the server decides.
  }
  return '';
}

function radio(name, value, label, hint, checked) {
  const id = `f-${name}-${value}`;
  return h('div', { class: 'choice' },
    h('input', { type: 'radio', id, name, value, checked, 'aria-describedby': `${id}-hint` }),
    h('label', { for: id }, h('strong', {}, label), h('span', { class: 'hint', id: `${id}-hint` }, hint)));
}

export function render(view, { flash }) {
  let mounted = true;
  const box = h('div', { class: 'form-messages', tabindex: '-1' });
  const fileInfo = h('p', { class: 'file-info', id: 'file-info', 'aria-live': 'polite' });
  const progress = h('progress', { id: 'upload-progress', max: 100, value: 0, 'aria-labelledby': 'upload-progress-label' });
  const progressText = h('span', { class: 'progress-text', id: 'upload-progress-text' }, '0 %');
  const progressBox = h('div', { class: 'progress-box', hidden: true },
    h('div', { class: 'progress-head' },
      h('span', { id: 'upload-progress-label' }, 'Progreso de la subida'),
      progressText),
    progress,
    h('p', { class: 'hint progress-detail', 'aria-live': 'polite' }));
  const submit = h('button', { type: 'submit', class: 'button button-primary', id: 'upload-submit' }, 'Subir video');
  const cancel = h('button', { type: 'button', class: 'button button-ghost-dark', hidden: true }, 'Cancelar subida');

  const fileField = field({
    name: 'video_file', id: 'video-file', label: 'Archivo de video (MP4)', type: 'file',
    accept: 'video/mp4,.mp4', required: true,
    hint: 'MP4 de 20 a 60 segundos, en 1080p o más (lado menor de al menos 1080 píxeles), hasta 100 MB.',
  });
  fileField.append(fileInfo);

  const form = h('form', { id: 'upload-form', class: 'form', novalidate: true },
    field({ name: 'title', id: 'title', label: 'Título', required: true, maxlength: String(MAX_TITLE), placeholder: 'Ej.: Triple sobre la bocina' }),
    fileField,
    h('fieldset', { class: 'choices' },
      h('legend', {}, 'Visibilidad'),
      radio('is_public', 'true', 'Público', 'Aparece en la galería y puede recibir votos.', true),
      radio('is_public', 'false', 'Privado', 'Solo tú puedes verlo.', false)),
    progressBox,
    h('div', { class: 'form-actions' }, submit, cancel));

  const fileInput = form.elements.namedItem('video_file');
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    const problem = await checkContent(file);
    if (file !== fileInput.files[0]) return; // another file was chosen meanwhile
    fileInfo.textContent = file ? `${file.name} · ${formatBytes(file.size)}` : '';
    setFieldErrors(form, problem && file ? { video_file: problem } : {});
  });

  let inFlight = null;
  // Going to another page of the app does not stop an upload in progress (it
  // reports in a flash message when it ends); closing the tab would, so warn.
  const beforeUnload = (e) => {
    if (inFlight) e.preventDefault();
  };
  const setProgress = (loaded, total) => {
    const pct = total ? Math.min(100, Math.round((loaded / total) * 100)) : 0;
    progress.value = pct;
    progressText.textContent = `${pct} %`;
    progressBox.querySelector('.progress-detail').textContent = loaded >= total
      ? 'Archivo enviado. El servidor lo está revisando…'
      : `${formatBytes(loaded)} de ${formatBytes(total)}`;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (inFlight) return;
    const title = form.elements.namedItem('title').value.trim();
    const file = fileInput.files[0];
    const problems = {};
    if (!title) problems.title = 'Escribe un título.';
    else if (title.length > MAX_TITLE) problems.title = `El título puede tener hasta ${MAX_TITLE} caracteres.`;
    const fileProblem = await checkContent(file);
    if (fileProblem) problems.video_file = fileProblem;
    if (Object.keys(problems).length) {
      box.replaceChildren(errorBox({ message: 'Revisa los campos marcados.', details: problems }));
      (setFieldErrors(form, problems) || box).focus();
      return;
    }
    setFieldErrors(form, {});
    box.replaceChildren();

    const data = new FormData();
    data.append('title', title);
    data.append('is_public', form.elements.namedItem('is_public').value);
    data.append('video_file', file, file.name);

    progressBox.hidden = false;
    setProgress(0, file.size);
    progressBox.querySelector('.progress-detail').textContent = 'Iniciando la subida…';
    submit.disabled = true;
    submit.textContent = 'Subiendo…';
    cancel.hidden = false;
    for (const el of form.querySelectorAll('input')) el.disabled = true;
    form.setAttribute('aria-busy', 'true');

    inFlight = upload(data, setProgress);
    cancel.onclick = () => inFlight && inFlight.abort();
    try {
      const res = await inFlight.promise;
      if (!mounted) {
        flash(`«${title}»: ${(res && res.message) || 'Video subido correctamente. Procesamiento en curso.'}`, 'success', { now: true });
        return;
      }
      setProgress(1, 1);
      progressBox.querySelector('.progress-detail').textContent = 'Subida completa.';
      box.replaceChildren(successBox(
        (res && res.message) || 'Video subido correctamente. Procesamiento en curso.',
        h('p', {}, 'Sigue su estado en «Mis videos»: se actualiza solo. ',
          h('a', { href: '#/mine', class: 'button button-secondary', id: 'go-mine' }, 'Ver mis videos'))));
      form.reset();
      fileInfo.textContent = '';
      box.focus();
    } catch (err) {
      if (err.sessionExpired) return;
      if (!mounted) {
        if (!err.aborted) flash(`No pudimos subir «${title}»: ${err.message}`, 'error', { now: true });
        return;
      }
      if (err.aborted) {
        progressBox.hidden = true;
        box.replaceChildren(h('div', { class: 'alert alert-info', role: 'status' }, h('p', {}, 'Cancelaste la subida.')));
      } else {
        box.replaceChildren(errorBox(err, { title: 'No pudimos subir el video.' }));
        const first = setFieldErrors(form, err.details || {});
        progressBox.querySelector('.progress-detail').textContent = 'La subida no se completó.';
        (first || box).focus();
      }
    } finally {
      inFlight = null;
      if (!mounted) window.removeEventListener('beforeunload', beforeUnload);
      submit.disabled = false;
      submit.textContent = 'Subir video';
      cancel.hidden = true;
      for (const el of form.querySelectorAll('input')) el.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  view.append(h('section', { class: 'page page-narrow' },
    h('div', { class: 'card form-card' },
      h('h1', {}, 'Subir video'),
      h('p', { class: 'lead' }, 'Comparte tus mejores jugadas. Procesamos los primeros 30 segundos a 720p con la marca ANB; la galería solo muestra los videos públicos ya procesados.'),
      box,
      form)));

  window.addEventListener('beforeunload', beforeUnload);
  return () => {
    mounted = false;
    if (!inFlight) window.removeEventListener('beforeunload', beforeUnload);
  };
}
