// What the server put into the page: language, words, the user, console settings.

const element = document.getElementById('page-data');
/** @type {{page: string, lang: string, messages: Record<string, string>,
 *          user: {username: string, display_name: string, role: string, extensions: string[], supervises: boolean},
 *          console: {task_warning_minutes: number, sla_minutes: number},
 *          urls: {login: string, console: string, supervisor: string}}} */
export const page = JSON.parse(element ? element.textContent || '{}' : '{}');

export const user = page.user;
export const myExtensions = new Set(user.extensions);

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') || '' : '';
}

export function loginUrl() {
  const next = location.pathname + location.search;
  return `${page.urls.login}?next=${encodeURIComponent(next)}`;
}
