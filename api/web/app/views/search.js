// Search results for performances, cast and venues, with the facets the API counts.

import { h, mount, highlighted } from '../dom.js';
import { t, day, number } from '../i18n.js';
import { gql } from '../api.js';
import { loading, setTitle, chips, badge, loadableUrl, pagedList } from '../ui.js';
import { navigate, refresh } from '../router.js';
import { poster } from './cards.js';
import { searchBox } from './searchbox.js';
import { GENRES } from './home.js';

const KINDS = ['PERFORMANCE', 'CAST_MEMBER', 'VENUE'];
const PAGE = 20;

const QUERY = `query Search($q: String!, $kinds: [SearchKind!], $filter: SearchFilter, $first: Int!, $after: String) {
  search(query: $q, kinds: $kinds, filter: $filter, first: $first, after: $after) {
    totalCount
    facets { genre { value count } kind { value count } }
    pageInfo { hasNextPage endCursor }
    edges {
      highlights { field snippet }
      node {
        __typename
        ... on Performance { id title englishTitle genre startDate endDate posterUrl venue { name region } }
        ... on CastMember { id name englishName roles { id role performance { id title } } }
        ... on Venue { id name address region }
      }
    }
  }
  venues(first: 50) { nodes { region } }
}`;

function titleFrom(highlights, field, fallback) {
  const hit = highlights.find((x) => x.field === field);
  return hit ? highlighted(hit.snippet) : fallback;
}

function hitItem(edge) {
  const { node, highlights } = edge;
  // Title matches are marked in the title itself; the rest are listed under it.
  const other = highlights.filter((x) => !['title', 'englishTitle', 'name'].includes(x.field));
  const matched = other.length
    ? h('p', { class: 'matched' }, other.map((x) => h('span', { class: 'match' }, highlighted(x.snippet))))
    : null;
  if (node.__typename === 'Performance') {
    return h('li', { class: 'hit hit-performance', 'data-testid': 'search-hit', 'data-kind': 'PERFORMANCE', 'data-id': node.id },
      poster(node, loadableUrl(node.posterUrl)),
      h('div', null,
        badge(t(`genre.${node.genre}`), 'genre'),
        h('h3', null, h('a', { href: `#/performances/${node.id}`, 'data-testid': 'search-hit-link' }, titleFrom(highlights, 'title', node.title))),
        node.englishTitle ? h('p', { class: 'subtitle', lang: 'en' }, titleFrom(highlights, 'englishTitle', node.englishTitle)) : null,
        h('p', { class: 'venue' }, `${node.venue.name} · ${node.venue.region} · ${day(node.startDate)} – ${day(node.endDate)}`),
        matched));
  }
  if (node.__typename === 'CastMember') {
    return h('li', { class: 'hit hit-cast', 'data-testid': 'search-hit', 'data-kind': 'CAST_MEMBER', 'data-id': node.id },
      h('div', null,
        badge(t('kind.CAST_MEMBER'), 'kind'),
        h('h3', null, titleFrom(highlights, 'name', node.name), node.englishName ? h('span', { class: 'en', lang: 'en' }, ` ${node.englishName}`) : null),
        node.roles.length ? h('ul', { class: 'roles' }, node.roles.map((r) => h('li', null,
          h('a', { href: `#/performances/${r.performance.id}` }, r.performance.title), ` — ${r.role}`))) : null,
        matched));
  }
  return h('li', { class: 'hit hit-venue', 'data-testid': 'search-hit', 'data-kind': 'VENUE', 'data-id': node.id },
    h('div', null,
      badge(t('kind.VENUE'), 'kind'),
      h('h3', null, titleFrom(highlights, 'name', node.name)),
      h('p', { class: 'venue' }, `${node.region} · ${node.address}`),
      matched));
}

export async function searchView(outlet, { query, signal }) {
  const q = (query.get('q') || '').trim();
  const kind = KINDS.includes(query.get('kind')) ? query.get('kind') : null;
  const genre = GENRES.includes(query.get('genre')) ? query.get('genre') : null;
  const region = query.get('region') || null;
  setTitle(q ? t('search.title', { q }) : t('search.submit'));
  const params = { q, kind, genre, region };
  const go = (changes) => navigate('/search', { ...params, ...changes });

  const filters = h('div', { class: 'filters', 'data-testid': 'search-filters' });
  const summary = h('p', { class: 'summary', 'data-testid': 'search-count', role: 'status' });
  const list = h('ul', { class: 'hits', 'data-testid': 'search-results' });
  const status = h('div', null, q ? loading() : h('p', null, t('search.blank')));
  const more = h('button', { type: 'button', class: 'button secondary', hidden: true }, t('more'));
  mount(outlet,
    h('section', { class: 'hero compact' }, searchBox(q, { kind, genre, region })),
    h('h1', null, q ? t('search.title', { q }) : t('search.submit')),
    summary, filters, list, status, more);
  if (!q) return;

  let drewFilters = false;
  await pagedList({
    list, status, more, signal, retry: refresh,
    fetchPage: async (after) => {
      const filter = {};
      if (genre) filter.genre = genre;
      if (region) filter.region = region;
      const data = await gql(QUERY, { q, kinds: kind ? [kind] : null, filter, first: PAGE, after }, { signal });
      const result = data.search;
      if (!drewFilters && !signal.aborted) {
        drewFilters = true;
        summary.textContent = t('search.count', { n: number(result.totalCount) });
        const regions = [...new Set(data.venues.nodes.map((v) => v.region))].sort();
        const regionSelect = h('select', { id: 'region-filter', 'data-testid': 'region-filter', onchange: (e) => go({ region: e.target.value || null }) },
          h('option', { value: '' }, t('search.anyRegion')),
          regions.map((r) => h('option', { value: r, selected: r === region }, r)));
        // Facets count every match, so each chip says how many a click would leave.
        mount(filters,
          chips(t('search.kinds'), [{ value: null, label: t('home.allGenres') },
            ...result.facets.kind.map((f) => ({ value: f.value, label: t(`kind.${f.value}`), count: f.count }))],
          kind, (value) => go({ kind: value }), 'kind-facets', { showLabel: true }),
          result.facets.genre.length ? chips(t('home.genres'), [{ value: null, label: t('home.allGenres') },
            ...result.facets.genre.map((f) => ({ value: f.value, label: t(`genre.${f.value}`), count: f.count }))],
          genre, (value) => go({ genre: value }), 'genre-facets', { showLabel: true }) : null,
          h('div', { class: 'field inline-field' }, h('label', { for: 'region-filter' }, t('search.region')), regionSelect));
      }
      return result;
    },
    render: hitItem,
    empty: () => h('p', { 'data-testid': 'search-empty' }, t('search.none')),
  });
}
