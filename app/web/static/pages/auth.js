// Sign up and log in.
import { api, saveSession } from '../api.js';
import { errorBox, field, h, setFieldErrors } from '../dom.js';

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// showErrors puts the API error in the message area and next to each field
// it names.
function showErrors(form, box, err, title) {
  box.replaceChildren(errorBox(err, { title }));
  const first = setFieldErrors(form, err.details || {});
  (first || box).focus?.();
}

function busy(button, on, text) {
  button.disabled = on;
  if (on) {
    button.dataset.label = button.textContent;
    button.textContent = text;
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
  }
}

export function renderSignup(view, { params, flash, go, safeNext }) {
  const box = h('div', { class: 'form-messages', tabindex: '-1' });
  const submit = h('button', { type: 'submit', class: 'button button-primary button-block' }, 'Crear cuenta');
  const form = h('form', { id: 'signup-form', class: 'form', novalidate: true },
    h('div', { class: 'field-row' },
      field({ name: 'first_name', label: 'Nombre', autocomplete: 'given-name', required: true }),
      field({ name: 'last_name', label: 'Apellido', autocomplete: 'family-name', required: true })),
    field({ name: 'email', label: 'Correo electrónico', type: 'email', autocomplete: 'email', required: true, inputmode: 'email' }),
    h('div', { class: 'field-row' },
      field({ name: 'password1', label: 'Contraseña', type: 'password', autocomplete: 'new-password', required: true, minlength: '8', hint: 'Mínimo 8 caracteres.' }),
      field({ name: 'password2', label: 'Confirma la contraseña', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' })),
    h('div', { class: 'field-row' },
      field({ name: 'city', label: 'Ciudad', autocomplete: 'address-level2', required: true }),
      field({ name: 'country', label: 'País', autocomplete: 'country-name', required: true })),
    submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(form);
    for (const k of Object.keys(v)) if (k !== 'password1' && k !== 'password2') v[k] = v[k].trim();
    const problems = {};
    for (const name of ['first_name', 'last_name', 'email', 'password1', 'password2', 'city', 'country']) {
      if (!v[name]) problems[name] = 'Este campo es obligatorio.';
    }
    if (v.email && !emailPattern.test(v.email)) problems.email = 'Escribe un correo válido, por ejemplo nombre@correo.com.';
    if (v.password1 && v.password1.length < 8) problems.password1 = 'La contraseña debe tener al menos 8 caracteres.';
    if (v.password2 && v.password1 !== v.password2) problems.password2 = 'Las contraseñas no coinciden.';
    if (Object.keys(problems).length) {
      showErrors(form, box, { message: 'Revisa los campos marcados.', details: problems });
      return;
    }
    setFieldErrors(form, {});
    box.replaceChildren();
    busy(submit, true, 'Creando cuenta…');
    try {
      const res = await api.signup(v);
      const created = `${(res && res.message) || 'Usuario creado exitosamente.'} Te enviamos un mensaje a ${v.email} para confirmar tu correo: abre su enlace para que tus votos cuenten.`;
      try {
        const login = await api.login({ email: v.email, password: v.password1 });
        saveSession(login, v.email);
        flash(`${created} ¡Bienvenido a Rising Stars! Ya puedes subir tu primer video.`, 'success');
        go(safeNext(params.get('next'), 'upload'));
      } catch {
        flash(`${created} Inicia sesión con tu correo y contraseña.`, 'success');
        go('login');
      }
    } catch (err) {
      busy(submit, false);
      showErrors(form, box, err, 'No pudimos crear tu cuenta.');
    }
  });

  view.append(h('section', { class: 'page page-narrow' },
    h('div', { class: 'card form-card' },
      h('h1', {}, 'Crea tu cuenta'),
      h('p', { class: 'lead' }, 'Regístrate para subir tus jugadas y votar por los mejores jugadores.'),
      box,
      form,
      h('p', { class: 'form-switch' }, '¿Ya tienes cuenta? ', h('a', { href: '#/login' }, 'Inicia sesión')))));
}

export function renderLogin(view, { params, flash, go, safeNext }) {
  const box = h('div', { class: 'form-messages', tabindex: '-1' });
  const submit = h('button', { type: 'submit', class: 'button button-primary button-block' }, 'Entrar');
  const form = h('form', { id: 'login-form', class: 'form', novalidate: true },
    field({ name: 'email', label: 'Correo electrónico', type: 'email', autocomplete: 'username', required: true, inputmode: 'email' }),
    field({ name: 'password', label: 'Contraseña', type: 'password', autocomplete: 'current-password', required: true }),
    submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(form);
    v.email = v.email.trim();
    const problems = {};
    if (!v.email) problems.email = 'Escribe tu correo.';
    else if (!emailPattern.test(v.email)) problems.email = 'Escribe un correo válido, por ejemplo nombre@correo.com.';
    if (!v.password) problems.password = 'Escribe tu contraseña.';
    if (Object.keys(problems).length) {
      showErrors(form, box, { message: 'Revisa los campos marcados.', details: problems });
      return;
    }
    setFieldErrors(form, {});
    box.replaceChildren();
    busy(submit, true, 'Entrando…');
    try {
      const res = await api.login(v);
      saveSession(res, v.email);
      flash('¡Hola de nuevo! Iniciaste sesión.', 'success');
      go(safeNext(params.get('next'), 'gallery'));
    } catch (err) {
      busy(submit, false);
      showErrors(form, box, err, 'No pudimos iniciar sesión.');
    }
  });

  const next = params.get('next');
  view.append(h('section', { class: 'page page-narrow' },
    h('div', { class: 'card form-card' },
      h('h1', {}, 'Inicia sesión'),
      h('p', { class: 'lead' }, 'Entra para subir videos, ver su estado y votar.'),
      box,
      form,
      h('p', { class: 'form-switch' }, '¿Aún no tienes cuenta? ',
        h('a', { href: next ? `#/signup?next=${encodeURIComponent(next)}` : '#/signup' }, 'Regístrate')))));
}
