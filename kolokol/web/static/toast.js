// Short messages at the bottom of the screen; errors stay longer and can be dismissed.

import { h, icon } from './dom.js';
import { t } from './i18n.js';

const MAX_TOASTS = 4;

/** @param {string} text @param {'info'|'ok'|'error'} [kind] */
export function toast(text, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const close = () => item.remove();
  const item = h(
    'div',
    { class: `toast toast-${kind}` },
    icon(kind === 'error' ? 'alert' : kind === 'ok' ? 'check' : 'info'),
    h('span', { class: 'toast-text' }, text),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': t('console.close'), onclick: close }, icon('x')),
  );
  region.append(item);
  while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
  setTimeout(close, kind === 'error' ? 9000 : 4500);
}
