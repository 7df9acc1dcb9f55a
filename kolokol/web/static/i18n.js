// The page's words: t('console.tasks.due', {time: '09:45'}) fills {time}; tn() picks the plural form (one/few/many/other).

import { page } from './page.js';

const messages = page.messages || {};
export const lang = page.lang || 'ru';
const plurals = new Intl.PluralRules(lang);

function fill(text, params) {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function t(key, params) {
  const text = messages[key];
  if (text === undefined) {
    console.warn('kolokol: missing message', key);
    return key;
  }
  return fill(text, params);
}

/** A counted phrase: tn('console.tasks.missed', 3) uses console.tasks.missed.few in Russian. */
export function tn(key, n, params) {
  const form = plurals.select(n);
  const text = messages[`${key}.${form}`] ?? messages[`${key}.other`] ?? messages[`${key}.many`];
  if (text === undefined) {
    console.warn('kolokol: missing message', key);
    return `${key} ${n}`;
  }
  return fill(text, { n, ...params });
}
