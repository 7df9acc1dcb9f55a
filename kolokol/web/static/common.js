// What both pages share: the header's live indicator, sound switch and unlock button, the
// "session ended" dialog, and one clock tick for all timers.

import { onUnauthenticated } from './api.js';
import { h, icon, setText } from './dom.js';
import { t } from './i18n.js';
import { loginUrl, user } from './page.js';
import * as sound from './sound.js';

const STATUS_KEYS = {
  connecting: 'console.conn.connecting',
  live: 'console.conn.live',
  reconnecting: 'console.conn.reconnecting',
  offline: 'console.conn.offline',
  ended: 'console.conn.ended',
};

// A reconnect that succeeds at once (kolokol restarting) is no news; one that takes longer is.
const BANNER_AFTER_MS = 2000;
let bannerTimer = 0;

export function showConnection(status) {
  const box = document.getElementById('conn');
  const label = document.getElementById('conn-label');
  if (!box || !label) return;
  box.dataset.state = status;
  setText(label, t(STATUS_KEYS[status] || STATUS_KEYS.connecting));
  document.body.dataset.conn = status;
  clearTimeout(bannerTimer);
  if (status === 'offline') showBanner('offline');
  else if (status === 'reconnecting') bannerTimer = setTimeout(() => showBanner('reconnecting'), BANNER_AFTER_MS);
  else showBanner(null);
}

/** "Нет связи" across the page, under the header: the screen is not to be trusted until it goes. */
function showBanner(state) {
  const banner = document.getElementById('conn-banner');
  const text = document.getElementById('conn-banner-text');
  if (!banner || !text) return;
  banner.hidden = state === null;
  if (state === null) return;
  banner.dataset.state = state;
  setText(text, t(state === 'offline' ? 'console.conn.banner_offline' : 'console.conn.banner_reconnecting'));
}

const retry = document.getElementById('conn-retry');
if (retry) retry.addEventListener('click', () => window.dispatchEvent(new CustomEvent('kolokol:reconnect')));

let endedShown = false;

export function showSessionEnded() {
  if (endedShown) return;
  endedShown = true;
  showConnection('ended');
  sound.setRinging(false);
  const dialog = h(
    'dialog',
    { class: 'dialog dialog-ended', 'aria-labelledby': 'ended-title' },
    icon('logout'),
    h('h2', { class: 'dialog-title', id: 'ended-title' }, t('console.session_ended.title')),
    h('p', { class: 'dialog-text' }, t('console.session_ended.text')),
    h('div', { class: 'dialog-actions' }, h('a', { class: 'button-primary', href: loginUrl() }, t('console.session_ended.login'))),
  );
  // It cannot be dismissed: nothing on the page works any more.
  dialog.addEventListener('cancel', (event) => event.preventDefault());
  document.body.append(dialog);
  dialog.showModal();
}

onUnauthenticated(() => showSessionEnded());

/** Tell screen readers about something new (a ringing call) without reading every timer tick. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  setTimeout(() => (region.textContent = text), 50);
}

/** Keys in the browser's storage are per user: reception PCs are shared. */
export function storageKey(name) {
  return `kolokol.${user.username}.${name}`;
}

// Signing out forgets this tab's recent calls (patients' names) before the next person signs in.
const logoutForm = document.querySelector('form.logout');
if (logoutForm) logoutForm.addEventListener('submit', () => sessionStorage.clear());

export function setupSound() {
  const unlock = document.getElementById('unlock');
  const toggle = document.getElementById('sound-toggle');
  const refresh = () => {
    if (unlock) unlock.hidden = !sound.needsUnlock() || sound.muted();
    if (toggle) {
      const on = !sound.muted();
      toggle.setAttribute('aria-pressed', String(on));
      const label = t(on ? 'console.sound.on' : 'console.sound.off');
      toggle.title = label;
      toggle.setAttribute('aria-label', label);
      toggle.replaceChildren(icon(on ? 'volume' : 'volume-off'));
    }
  };
  if (unlock) unlock.addEventListener('click', () => sound.unlock(true).then(refresh));
  if (toggle) toggle.addEventListener('click', () => {
    sound.setMuted(!sound.muted());
    if (!sound.muted()) sound.unlock(false);
  });
  sound.onChange(refresh);
  sound.probe();
  refresh();
}

/**
 * Load the page's state with `reload`, retrying with backoff while kolokol cannot be reached; null when
 * the login has ended (the "session ended" dialog takes over).
 */
export async function untilLoaded(reload) {
  let delay = 1000;
  for (;;) {
    try {
      return await reload();
    } catch (error) {
      if (error && error.status === 401) return null;
      showConnection('offline');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(30000, delay * 2);
    }
  }
}

const tickers = new Set();

/** Call `callback` every second (timers); one interval for the whole page. */
export function everySecond(callback) {
  tickers.add(callback);
}

setInterval(() => {
  for (const callback of tickers) callback();
}, 1000);
