// The home page: a search box, a genre filter and the performances running now or later.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { gql } from '../api.js';
import { loading, setTitle, chips, pagedList } from '../ui.js';
import { navigate, refresh } from '../router.js';
import { performanceCard } from './cards.js';
import { searchBox } from './searchbox.js';

export const GENRES = ['MUSICAL', 'CONCERT', 'THEATRE', 'OPERA', 'CLASSICAL', 'DANCE'];
const PAGE = 12;

const QUERY = `query Home($first: Int!, $after: String, $filter: PerformanceFilterInput) {
  performances(first: $first, after: $after, filter: $filter) {
    edges { node { id title englishTitle genre startDate endDate posterUrl venue { name region } priceTiers { grade price } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** Today in Korea, as the API's calendar days are Korean days. */
export function seoulToday() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Seoul' }).format(new Date());
}

export async function homeView(outlet, { query, signal }) {
  setTitle(t('home.title'));
  const genre = GENRES.includes(query.get('genre')) ? query.get('genre') : null;
  const list = h('ul', { class: 'cards', 'data-testid': 'performance-list', 'aria-labelledby': 'home-heading' });
  const status = h('div', { class: 'list-status' }, loading());
  const more = h('button', { type: 'button', class: 'button secondary', hidden: true, 'data-testid': 'load-more' }, t('more'));

  mount(outlet,
    h('section', { class: 'hero', 'aria-labelledby': 'search-heading' },
      h('h2', { id: 'search-heading', class: 'visually-hidden' }, t('search.label')),
      searchBox()),
    h('h1', { id: 'home-heading' }, t('home.heading')),
    chips(t('home.genres'), [{ value: null, label: t('home.allGenres') }, ...GENRES.map((g) => ({ value: g, label: t(`genre.${g}`) }))],
      genre, (value) => navigate('/', value ? { genre: value } : undefined), 'genre-filter'),
    list, status, more);

  await pagedList({
    list, status, more, signal, retry: refresh,
    fetchPage: async (after) => {
      const filter = { from: seoulToday(), ...(genre ? { genre } : {}) };
      return (await gql(QUERY, { first: PAGE, after, filter }, { signal })).performances;
    },
    render: (edge) => performanceCard(edge.node),
    empty: () => h('p', null, t('home.empty')),
  });
}
