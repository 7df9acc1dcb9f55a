// Click-to-call: the operator's phone rings first, then the patient's number is dialled. Offered only
// while it can work: the user has a phone and kolokol is connected to Asterisk (cloud PBXs: not yet).

import { ApiError, get, post } from './api.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';
import { page, user } from './page.js';
import { toast } from './toast.js';

const CHOICE_KEY = `kolokol.${user.username}.originate.extension`;
// Asterisk comes and goes: ask again this often (and after every reload of the page's state).
const RECHECK_MS = 30000;
const listeners = [];
const availability = [];
let pbxReady = Boolean(page.console && page.console.click_to_call);

export function canCallBack() {
  return user.extensions.length > 0 && pbxReady;
}

/** What the server said about click-to-call just now (`click_to_call` of /api/me or /api/live). */
export function setClickToCall(ready) {
  if (typeof ready !== 'boolean' || ready === pbxReady) return;
  pbxReady = ready;
  for (const listener of availability) listener(canCallBack());
}

/** Called with canCallBack() whenever it changes: call buttons appear and disappear. */
export function onCallBackChange(listener) {
  availability.push(listener);
}

if (user.extensions.length) {
  setInterval(() => {
    get('/api/me')
      .then((me) => setClickToCall(me && me.click_to_call))
      .catch(() => {});
  }, RECHECK_MS);
}

export function chosenExtension() {
  if (user.extensions.length === 1) return user.extensions[0];
  const remembered = localStorage.getItem(CHOICE_KEY);
  return remembered && user.extensions.includes(remembered) ? remembered : null;
}

function remember(extension) {
  localStorage.setItem(CHOICE_KEY, extension);
  for (const listener of listeners) listener(extension);
}

/** In the header, for someone with several phones: which one rings for click-to-call. */
export function mountExtensionPicker(slot) {
  if (!slot || user.extensions.length < 2) return;
  const select = h(
    'select',
    { class: 'ext-picker', id: 'ext-picker', 'aria-label': t('console.originate.from') },
    h('option', { value: '', disabled: true }, t('console.originate.pick_short')),
    user.extensions.map((ext) => h('option', { value: ext }, t('console.originate.ext', { ext }))),
  );
  select.value = chosenExtension() || '';
  select.addEventListener('change', () => select.value && remember(select.value));
  listeners.push((ext) => (select.value = ext));
  slot.replaceChildren(h('label', { class: 'ext-picker-label', for: 'ext-picker' }, t('console.originate.from')), select);
}

function askExtension() {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'pick-ext-title' },
      h('h2', { class: 'dialog-title', id: 'pick-ext-title' }, t('console.originate.pick_title')),
      h('p', { class: 'dialog-text' }, t('console.originate.pick_hint')),
      h(
        'div',
        { class: 'dialog-choices' },
        user.extensions.map((ext) =>
          h('button', { type: 'button', class: 'button-secondary', onclick: () => done(ext) }, icon('phone'), t('console.originate.ext', { ext })),
        ),
      ),
      h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'button-ghost', onclick: () => done(null) }, t('console.cancel'))),
    );
    let settled = false;
    function done(ext) {
      if (settled) return;
      settled = true;
      dialog.close();
      dialog.remove();
      if (ext) remember(ext);
      resolve(ext);
    }
    dialog.addEventListener('close', () => done(null));
    document.body.append(dialog);
    dialog.showModal();
  });
}

const ERRORS = {
  'pbx-unavailable': 'console.originate.error_pbx',
  'originate-in-progress': 'console.originate.error_busy',
  forbidden: 'console.originate.error_forbidden',
  'invalid-field': 'console.originate.error_number',
  network: 'console.error.network',
};

const FAILURES = {
  unreachable: 'console.originate.failed.unreachable',
  rejected: 'console.originate.failed.rejected',
  no_answer: 'console.originate.failed.no_answer',
  busy: 'console.originate.failed.busy',
  congestion: 'console.originate.failed.congestion',
  failed: 'console.originate.failed.failed',
};

/** The feed's originate.failed: my phone never connected, so the patient was not dialled. */
export function originateFailed(message) {
  const key = FAILURES[message.reason] || FAILURES.failed;
  toast(t(key, { number: message.number_display || message.number || '', ext: message.extension || '' }), 'error');
}

/** Returns true when the call was requested. */
export async function callBack(number, display) {
  const shown = display || number;
  if (!number) {
    toast(t('console.originate.error_number'), 'error');
    return false;
  }
  if (!canCallBack()) {
    toast(t('console.originate.no_phone'), 'error');
    return false;
  }
  const extension = chosenExtension() || (await askExtension());
  if (!extension) return false;
  try {
    await post('/api/calls/originate', { extension, number });
  } catch (error) {
    // Asterisk went away since the page last asked: stop offering it until it is back.
    if (error instanceof ApiError && error.slug === 'pbx-unavailable') setClickToCall(false);
    const key = error instanceof ApiError ? ERRORS[error.slug] : null;
    toast(key ? t(key, { number: shown, ext: extension }) : t('console.error.generic'), 'error');
    return false;
  }
  toast(t('console.originate.requested', { number: shown, ext: extension }), 'ok');
  return true;
}
