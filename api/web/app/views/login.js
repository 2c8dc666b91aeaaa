// Log in or sign up, then back to where the buyer was going (`next`).

import { h, mount } from '../dom.js';
import { t, getLang } from '../i18n.js';
import { gql } from '../api.js';
import { logIn, signUp } from '../auth.js';
import { announce } from '../announce.js';
import { errorText, field, setTitle } from '../ui.js';
import { navigate, href } from '../router.js';

function safeNext(next) {
  // Only our own routes: `next` comes from the address bar.
  return next && /^\/[\w/-]*$/.test(next) ? next : '/';
}

export function loginView(outlet, { query }) {
  const signup = query.get('mode') === 'signup';
  const next = safeNext(query.get('next'));
  setTitle(signup ? t('login.signupTitle') : t('login.title'));

  const status = h('div', { class: 'form-status', 'data-testid': 'login-status' });
  const email = field(t('login.email'), { type: 'email', name: 'email', autocomplete: 'email', required: true, 'data-testid': 'login-email' });
  const password = field(t('login.password'), {
    type: 'password', name: 'password', required: true, minlength: signup ? 10 : undefined,
    autocomplete: signup ? 'new-password' : 'current-password', 'data-testid': 'login-password',
  }, signup ? t('login.passwordHint') : null);
  const name = signup ? field(t('login.name'), { type: 'text', name: 'name', autocomplete: 'name', required: true, 'data-testid': 'signup-name' }) : null;
  const phone = signup ? field(t('login.phone'), { type: 'tel', name: 'phone', autocomplete: 'tel', 'data-testid': 'signup-phone' }) : null;
  const submit = h('button', { type: 'submit', class: 'button primary wide', 'data-testid': 'login-submit' }, signup ? t('login.signupSubmit') : t('login.submit'));

  const form = h('form', { class: 'panel auth-form', 'data-testid': signup ? 'signup-form' : 'login-form', novalidate: false, onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    mount(status);
    try {
      const user = signup
        ? await signUp({ email: email.input.value.trim(), password: password.input.value, name: name.input.value.trim(), phone: phone.input.value.trim() || null })
        : await logIn(email.input.value.trim(), password.input.value);
      // A new account gets its emails in the language it signed up in (Korean by default).
      if (signup && getLang() !== 'ko') gql('mutation Lang { updateMe(input: { language: EN }) { id } }').catch(() => {});
      announce(t('login.welcome', { name: user.name }));
      navigate(next);
    } catch (err) {
      submit.disabled = false;
      mount(status, h('p', { class: 'notice error', role: 'alert', 'data-testid': 'login-error', 'data-code': err.code || '' }, errorText(err)));
      // Put the buyer on the field the server complained about, when it named one.
      const bad = err.extensions?.field;
      const target = { email: email.input, password: password.input, name: name?.input, phone: phone?.input }[bad];
      if (target) {
        target.setAttribute('aria-invalid', 'true');
        target.focus();
      }
    }
  } },
  email.wrap, password.wrap, name?.wrap, phone?.wrap, status, submit);

  mount(outlet,
    h('div', { class: 'auth' },
      h('h1', null, signup ? t('login.signupTitle') : t('login.title')),
      form,
      h('p', { class: 'switch' },
        h('a', { href: href('/login', { mode: signup ? null : 'signup', next: next === '/' ? null : next }), 'data-testid': signup ? 'to-login' : 'to-signup' },
          signup ? t('login.toLogin') : t('login.toSignup')))));
}
