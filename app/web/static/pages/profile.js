// My profile: who I am, whether my e-mail is verified, and a button that
// sends the verification message again.
import { api } from '../api.js';
import { errorBox, h, successBox } from '../dom.js';

export function render(view, { signal }) {
  const content = h('div', { class: 'card profile-card', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Cargando tu perfil…'));
  view.append(h('section', { class: 'page page-narrow' }, h('h1', {}, 'Mi perfil'), content));

  api.me(signal).then((me) => {
    content.removeAttribute('aria-busy');
    const message = h('div', { class: 'form-messages', 'aria-live': 'polite' });
    const rows = [
      h('dt', {}, 'Nombre'), h('dd', {}, `${me.first_name} ${me.last_name}`),
      h('dt', {}, 'Correo electrónico'), h('dd', {}, me.email),
      h('dt', {}, 'Ciudad'), h('dd', {}, [me.city, me.country].filter(Boolean).join(', ')),
      h('dt', {}, 'Verificación'),
      h('dd', {}, me.email_verified
        ? h('span', { class: 'badge verified', id: 'email-status', dataset: { verified: 'true' } }, '✓ Correo verificado')
        : h('span', { class: 'badge unverified', id: 'email-status', dataset: { verified: 'false' } }, 'Correo sin verificar')),
    ];
    const parts = [h('dl', { class: 'profile' }, rows), message];
    if (!me.email_verified) {
      parts.push(h('p', {}, me.votes_need_verification
        ? 'Tus votos quedan pendientes y no cuentan en el ranking hasta que confirmes tu correo con el enlace que te enviamos.'
        : 'Confirma tu correo con el enlace que te enviamos al registrarte.'));
      const resend = h('button', { type: 'button', class: 'button button-primary', id: 'resend-verification' }, 'Reenviar mensaje de verificación');
      resend.addEventListener('click', async () => {
        resend.disabled = true;
        message.replaceChildren();
        try {
          const res = await api.resendVerification();
          message.replaceChildren(successBox(res.message));
        } catch (err) {
          if (err.sessionExpired) return;
          message.replaceChildren(errorBox(err, { title: 'No pudimos reenviar el mensaje.' }));
        } finally {
          resend.disabled = false;
        }
      });
      parts.push(resend);
    }
    content.replaceChildren(...parts);
  }).catch((err) => {
    if (signal.aborted || err.sessionExpired) return;
    content.removeAttribute('aria-busy');
    content.replaceChildren(errorBox(err, { title: 'No pudimos cargar tu perfil.' }));
  });
}
