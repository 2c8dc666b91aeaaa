// The search box with type-ahead suggestions (`suggest`), used on the home and search pages.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { gql } from '../api.js';
import { navigate } from '../router.js';

const SUGGEST_DELAY_MS = 200;

export function searchBox(initial = '', extra = {}) {
  const listId = 'search-suggestions';
  const input = h('input', {
    id: 'search-input', type: 'search', name: 'q', value: initial, placeholder: t('search.placeholder'),
    autocomplete: 'off', list: listId, 'data-testid': 'search-input', enterkeyhint: 'search',
  });
  const datalist = h('datalist', { id: listId });
  let timer = null;
  let asked = 0;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    const prefix = input.value.trim();
    if (!prefix) return;
    timer = setTimeout(async () => {
      const mine = ++asked;
      try {
        const data = await gql('query Suggest($p: String!) { suggest(prefix: $p) }', { p: prefix });
        if (mine !== asked) return; // a later keystroke asked since
        datalist.replaceChildren(...data.suggest.map((text) => h('option', { value: text })));
      } catch {
        // Suggestions are a convenience; searching still works without them.
      }
    }, SUGGEST_DELAY_MS);
  });
  const form = h('form', { class: 'search-form', role: 'search', 'data-testid': 'search-form', onsubmit: (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) {
      input.focus();
      return;
    }
    navigate('/search', { q, ...extra });
  } },
  h('label', { for: 'search-input', class: 'visually-hidden' }, t('search.label')),
  input, datalist,
  h('button', { type: 'submit', class: 'button primary', 'data-testid': 'search-submit' }, t('search.submit')));
  return form;
}
