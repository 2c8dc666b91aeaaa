// The seat map as SVG, drawn from each seat's x/y (in seat widths and rows from the
// stage). Seats are toggle buttons: clickable, and reachable from the keyboard with one
// tab stop (roving tabindex) and the arrow keys inside the map, since a thousand tab stops
// would make the rest of the page unreachable.

import { s, h } from './dom.js';
import { t, price, seatName } from './i18n.js';

// Grade colours, dearest grade first; each keeps at least 4.5:1 against white text-free
// fills and is told apart from the greys used for unavailable seats.
const PALETTE = ['#7b2cbf', '#c2255c', '#1971c2', '#2b8a3e', '#d9480f', '#0c8599', '#5c940d', '#862e9c'];
const SELECTED_FILL = '#fab005';
const ZOOMS = [1, 1.5, 2, 3];
// The map at zoom 1 fits this share of the window's height (it scrolls when zoomed in).
const FIT_VH = 78;

let instance = 0;

export function gradeColors(grades) {
  const colors = new Map();
  grades.forEach((grade, i) => colors.set(grade, PALETTE[i % PALETTE.length]));
  return colors;
}

/** The legend: each grade's colour and price, then what the greys and patterns mean. */
export function legend(prices, colors, ids) {
  const swatch = (fill, extra) => s('svg', { class: 'swatch', viewBox: '0 0 1 1', 'aria-hidden': 'true', focusable: 'false' },
    s('rect', { x: 0.05, y: 0.05, width: 0.9, height: 0.9, rx: 0.18, fill, ...extra }));
  return h('div', { class: 'legend', 'data-testid': 'legend' },
    h('h3', { class: 'visually-hidden' }, t('map.legend')),
    h('ul', { class: 'legend-grades' },
      prices.map((p) => h('li', { 'data-grade': p.grade },
        swatch(colors.get(p.grade)), h('span', { class: 'grade' }, p.grade), ' ', h('span', { class: 'price' }, price(p.price))))),
    h('ul', { class: 'legend-states' },
      h('li', null, swatch(SELECTED_FILL, { stroke: '#212529', 'stroke-width': 0.12 }), t('seat.selected')),
      h('li', null, swatch(`url(#${ids.held})`), t('seat.HELD')),
      h('li', null, swatch(`url(#${ids.sold})`), t('seat.SOLD')),
      h('li', null, swatch(`url(#${ids.blocked})`), t('seat.BLOCKED'))));
}

/**
 * seats: [{ id section row number grade status x y accessible }]
 * options: { colors, priceOf(grade), max, onChange(selected), onRefused(message) }
 */
export function createSeatMap(seats, { colors, priceOf, max, onChange, onRefused }) {
  instance += 1;
  const ids = { held: `held-${instance}`, sold: `sold-${instance}`, blocked: `blocked-${instance}` };
  const byId = new Map();
  const selected = new Set();
  const mine = new Set();

  const minX = Math.min(...seats.map((x) => x.x));
  const maxX = Math.max(...seats.map((x) => x.x)) + 1;
  const minY = Math.min(...seats.map((x) => x.y));
  const maxY = Math.max(...seats.map((x) => x.y)) + 1;
  const left = minX - 2.5;
  const top = minY - 3.2;
  const width = maxX - minX + 5;
  const height = maxY - minY + 3.7;

  // Patterns make held, sold and blocked seats differ by more than their shade of grey.
  const defs = s('defs', null,
    s('pattern', { id: ids.held, patternUnits: 'userSpaceOnUse', width: 0.3, height: 0.3, patternTransform: 'rotate(45)' },
      s('rect', { width: 0.3, height: 0.3, fill: '#dee2e6' }),
      s('line', { x1: 0, y1: 0, x2: 0, y2: 0.3, stroke: '#868e96', 'stroke-width': 0.12 })),
    s('pattern', { id: ids.sold, patternUnits: 'userSpaceOnUse', width: 0.4, height: 0.4 },
      s('rect', { width: 0.4, height: 0.4, fill: '#6c757d' }),
      s('path', { d: 'M0 0L0.4 0.4M0.4 0L0 0.4', stroke: '#343a40', 'stroke-width': 0.07 })),
    s('pattern', { id: ids.blocked, patternUnits: 'userSpaceOnUse', width: 0.3, height: 0.3 },
      s('rect', { width: 0.3, height: 0.3, fill: '#f1f3f5' }),
      s('circle', { cx: 0.15, cy: 0.15, r: 0.06, fill: '#868e96' })));

  const svg = s('svg', {
    class: 'seatmap-svg',
    viewBox: `${left} ${top} ${width} ${height}`,
    role: 'group',
    'aria-label': t('map.mapLabel'),
    'data-testid': 'seatmap-svg',
  }, defs);

  // The stage, across the top.
  svg.append(
    s('rect', { x: minX + (maxX - minX) * 0.15, y: top + 0.4, width: (maxX - minX) * 0.7, height: 1.3, rx: 0.3, fill: '#343a40', 'aria-hidden': 'true' }),
    s('text', { x: (minX + maxX) / 2, y: top + 1.33, 'text-anchor': 'middle', 'font-size': 0.75, fill: '#fff', 'aria-hidden': 'true', class: 'stage-label' }, t('map.stage')),
  );

  // Row labels on both sides, section names above their first row.
  const rows = new Map(); // y -> seats sorted by x
  for (const seat of seats) {
    if (!rows.has(seat.y)) rows.set(seat.y, []);
    rows.get(seat.y).push(seat);
  }
  const rowYs = [...rows.keys()].sort((a, b) => a - b);
  for (const y of rowYs) rows.get(y).sort((a, b) => a.x - b.x);
  const labels = s('g', { 'aria-hidden': 'true', class: 'row-labels' });
  let lastSection = null;
  for (const y of rowYs) {
    const first = rows.get(y)[0];
    labels.append(
      s('text', { x: minX - 1.2, y: y + 0.72, 'text-anchor': 'middle', 'font-size': 0.55, fill: '#495057' }, first.row),
      s('text', { x: maxX + 1.2, y: y + 0.72, 'text-anchor': 'middle', 'font-size': 0.55, fill: '#495057' }, first.row),
    );
    if (first.section !== lastSection) {
      lastSection = first.section;
      labels.append(s('text', { x: minX - 2.3, y: y - 0.25, 'font-size': 0.62, 'font-weight': 'bold', fill: '#212529' }, first.section));
    }
  }
  svg.append(labels);

  const seatLayer = s('g', { class: 'seats' });
  for (const seat of seats) {
    const el = s('rect', {
      class: 'seat',
      x: seat.x + 0.1,
      y: seat.y + 0.1,
      width: 0.8,
      height: 0.8,
      rx: 0.18,
      role: 'button',
      tabindex: '-1',
      'data-testid': 'seat',
      'data-seat-id': seat.id,
      'data-grade': seat.grade,
    });
    const entry = { ...seat, el };
    byId.set(seat.id, entry);
    paint(entry);
    seatLayer.append(el);
    if (seat.accessible) {
      // A small wheelchair mark, so the seat type is not told by colour alone.
      seatLayer.append(s('circle', { cx: seat.x + 0.5, cy: seat.y + 0.5, r: 0.14, fill: '#fff', class: 'accessible-mark', 'aria-hidden': 'true' }));
    }
  }
  svg.append(seatLayer);

  // One ring that follows keyboard focus: visible on any fill, and never hidden by the
  // outline a selected seat already has.
  const ring = s('rect', { class: 'focus-ring', width: 1.1, height: 1.1, rx: 0.28, fill: 'none', stroke: '#0b7285', 'stroke-width': 0.16, visibility: 'hidden', 'aria-hidden': 'true' });
  svg.append(ring);

  const scroller = h('div', { class: 'seatmap-scroll', 'data-testid': 'seatmap-scroll' }, svg);
  const info = h('p', { class: 'seat-info', 'aria-hidden': 'true', 'data-testid': 'seat-info' }, '\u00a0');

  let zoom = 0;
  const ratio = width / height;
  function applyZoom() {
    const z = ZOOMS[zoom];
    // Fit by height at zoom 1 (a tall hall stays on screen), then grow both ways.
    svg.style.width = `min(${100 * z}%, ${(FIT_VH * z * ratio).toFixed(2)}vh)`;
    svg.style.minWidth = `${Math.round(width * 9 * z)}px`;
    zoomOut.disabled = zoom === 0;
    zoomIn.disabled = zoom === ZOOMS.length - 1;
  }
  const zoomOut = h('button', { type: 'button', class: 'button icon', 'aria-label': t('map.zoomOut'), title: t('map.zoomOut'), 'data-testid': 'zoom-out', onclick: () => { zoom = Math.max(0, zoom - 1); applyZoom(); } }, '−');
  const zoomIn = h('button', { type: 'button', class: 'button icon', 'aria-label': t('map.zoomIn'), title: t('map.zoomIn'), 'data-testid': 'zoom-in', onclick: () => { zoom = Math.min(ZOOMS.length - 1, zoom + 1); applyZoom(); } }, '+');
  const zoomFit = h('button', { type: 'button', class: 'button secondary small', 'data-testid': 'zoom-fit', onclick: () => { zoom = 0; applyZoom(); } }, t('map.zoomReset'));
  const toolbar = h('div', { class: 'seatmap-toolbar' }, zoomOut, zoomIn, zoomFit);
  applyZoom();

  const element = h('div', { class: 'seatmap', 'data-testid': 'seatmap' }, toolbar, scroller, info);

  function label(entry) {
    const parts = [seatName(entry), entry.grade];
    const p = priceOf(entry.grade);
    if (p !== null && p !== undefined) parts.push(price(p));
    if (mine.has(entry.id)) parts.push(t('seat.selected'));
    else parts.push(t(`seat.${entry.status}`));
    if (entry.accessible) parts.push(t('seat.accessible'));
    return parts.join(', ');
  }

  function paint(entry) {
    const { el, status } = entry;
    const isSelected = selected.has(entry.id) || mine.has(entry.id);
    let fill;
    if (isSelected) fill = SELECTED_FILL;
    else if (status === 'AVAILABLE') fill = colors.get(entry.grade) || '#495057';
    else fill = `url(#${ids[status.toLowerCase()] || ids.blocked})`;
    el.setAttribute('fill', fill);
    el.setAttribute('data-status', status);
    el.setAttribute('class', `seat status-${status.toLowerCase()}${isSelected ? ' selected' : ''}${mine.has(entry.id) ? ' mine' : ''}`);
    el.setAttribute('aria-pressed', String(selected.has(entry.id)));
    if (status === 'AVAILABLE' || selected.has(entry.id)) el.removeAttribute('aria-disabled');
    else el.setAttribute('aria-disabled', 'true');
    el.setAttribute('aria-label', label(entry));
  }

  function changed() {
    onChange?.([...selected].map((id) => byId.get(id)));
  }

  function toggle(entry) {
    if (selected.has(entry.id)) {
      selected.delete(entry.id);
    } else if (entry.status !== 'AVAILABLE') {
      onRefused?.(t('map.notAvailable', { seat: seatName(entry), status: t(`seat.${entry.status}`) }));
      return;
    } else if (selected.size >= max) {
      onRefused?.(t('map.max', { max }));
      return;
    } else {
      selected.add(entry.id);
    }
    paint(entry);
    changed();
  }

  // Roving tabindex: exactly one seat is in the tab order, the one last focused.
  let active = null;
  function setActive(entry, focus) {
    if (active && active !== entry) active.el.setAttribute('tabindex', '-1');
    active = entry;
    entry.el.setAttribute('tabindex', '0');
    if (focus) {
      entry.el.focus();
      // Keep the focused seat in view when the map is zoomed in.
      entry.el.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
    }
  }
  const firstAvailable = seats.find((x) => x.status === 'AVAILABLE') || seats[0];
  if (firstAvailable) setActive(byId.get(firstAvailable.id), false);

  function showInfo(entry) {
    info.textContent = entry ? label(entry) : '\u00a0';
  }

  function neighbour(entry, key) {
    const row = rows.get(entry.y);
    const i = row.findIndex((x) => x.id === entry.id);
    if (key === 'ArrowLeft') return row[i - 1];
    if (key === 'ArrowRight') return row[i + 1];
    if (key === 'Home') return row[0];
    if (key === 'End') return row[row.length - 1];
    const r = rowYs.indexOf(entry.y) + (key === 'ArrowUp' ? -1 : 1);
    const other = rows.get(rowYs[r]);
    if (!other) return null;
    return other.reduce((best, x) => (Math.abs(x.x - entry.x) < Math.abs(best.x - entry.x) ? x : best), other[0]);
  }

  const seatOf = (target) => (target instanceof Element && target.classList.contains('seat') ? byId.get(target.getAttribute('data-seat-id')) : null);

  svg.addEventListener('click', (event) => {
    const entry = seatOf(event.target);
    if (!entry) return;
    setActive(entry, false);
    toggle(entry);
    showInfo(entry);
  });
  svg.addEventListener('keydown', (event) => {
    const entry = seatOf(event.target);
    if (!entry) return;
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      toggle(entry);
      showInfo(entry);
      return;
    }
    if (['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End'].includes(event.key)) {
      event.preventDefault();
      const next = neighbour(entry, event.key);
      if (next) setActive(byId.get(next.id), true);
    }
  });
  svg.addEventListener('focusin', (event) => {
    const entry = seatOf(event.target);
    if (!entry) return;
    ring.setAttribute('x', entry.x - 0.05);
    ring.setAttribute('y', entry.y - 0.05);
    ring.setAttribute('visibility', 'visible');
    showInfo(entry);
  });
  svg.addEventListener('focusout', () => ring.setAttribute('visibility', 'hidden'));
  svg.addEventListener('mouseover', (event) => {
    const entry = seatOf(event.target);
    if (entry) showInfo(entry);
  });

  /** Applies status changes; returns the selected seats that are no longer available. */
  function setStatuses(changes) {
    const lost = [];
    for (const { seatId, status } of changes) {
      const entry = byId.get(seatId);
      if (!entry || entry.status === status) continue;
      entry.status = status;
      if (status !== 'AVAILABLE' && selected.has(entry.id)) lost.push(entry);
      paint(entry);
    }
    return lost;
  }

  return {
    element,
    ids,
    seat: (id) => byId.get(id),
    selected: () => [...selected].map((id) => byId.get(id)),
    setStatuses,
    replaceAll: (list) => setStatuses(list.map((x) => ({ seatId: x.id, status: x.status }))),
    deselect(list) {
      for (const id of list) {
        if (!selected.delete(id)) continue;
        const entry = byId.get(id);
        if (entry) paint(entry);
      }
      changed();
    },
    clearSelection() {
      const list = [...selected];
      selected.clear();
      for (const id of list) paint(byId.get(id));
      changed();
    },
    /** Seats of the buyer's own hold: drawn as chosen, whatever the live status says. */
    setMine(list) {
      const before = [...mine];
      mine.clear();
      for (const id of list) mine.add(id);
      for (const id of new Set([...before, ...list])) {
        const entry = byId.get(id);
        if (entry) paint(entry);
      }
    },
    /** Briefly outlines seats, e.g. the ones a refused hold named. */
    flash(list) {
      for (const id of list) {
        const entry = byId.get(id);
        if (!entry) continue;
        entry.el.classList.add('flash');
        setTimeout(() => entry.el.classList.remove('flash'), 4000);
      }
    },
  };
}
