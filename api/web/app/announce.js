// Screen-reader announcements for things that change without focus moving: a hold
// placed, a payment's outcome, seats taken by others on the live map.

let clearTimer = null;

export function announce(text, { assertive = false } = {}) {
  const region = document.getElementById(assertive ? 'live-assertive' : 'live-polite');
  if (!region) return;
  // Emptying first makes a repeat of the same sentence count as news.
  region.textContent = '';
  clearTimeout(clearTimer);
  setTimeout(() => {
    region.textContent = text;
  }, 50);
  clearTimer = setTimeout(() => {
    region.textContent = '';
  }, 10_000);
}
