// Who answers which phone (from /api/live): screens name people, not bare extensions.

import { t } from './i18n.js';

/** @type {Map<string, string[]>} extension -> display names of the active users who answer it */
let owners = new Map();
const listeners = [];

/** @param {{extension: string, users: string[]}[]} list */
export function setDirectory(list) {
  const next = new Map();
  for (const item of list || []) if (item && item.extension) next.set(String(item.extension), Array.isArray(item.users) ? item.users : []);
  owners = next;
  for (const listener of listeners) listener();
}

export function onDirectoryChange(listener) {
  listeners.push(listener);
}

/** The people who answer this extension (maybe none, maybe several sharing a phone). */
export function peopleAt(ext) {
  return owners.get(String(ext)) || [];
}

/** «Анна Смирнова» for a phone one person answers, «Анна, Борис» for a shared one, else «доб. 101». */
export function personAt(ext) {
  if (!ext) return '';
  const people = peopleAt(ext);
  return people.length ? people.join(', ') : t('console.card.ext', { ext });
}

/** Several phones, each as a person. */
export function peopleOn(extensions) {
  return [...new Set((extensions || []).map(personAt).filter(Boolean))].join(', ');
}
