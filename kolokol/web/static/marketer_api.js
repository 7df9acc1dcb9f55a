// The marketer page's calls to /api/tracking/..., and what a section shows when one fails.

import { ApiError, request } from './api.js';
import { showConnection } from './common.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';
import { csrfToken } from './page.js';

/** A request; the header's indicator says whether kolokol answers at all (any HTTP answer does). */
async function call(method, path, body) {
  try {
    const data = await request(method, path, body);
    showConnection('live');
    return data;
  } catch (error) {
    if (error instanceof ApiError && error.status === 0) showConnection('offline');
    else if (error instanceof ApiError && error.status !== 401) showConnection('live');
    throw error;
  }
}

export const get = (path) => call('GET', path);
export const put = (path, body) => call('PUT', path, body);
export const post = (path, body) => call('POST', path, body);
export const remove = (path) => call('DELETE', path);

/** A path with its query; empty values are left out. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * A file as the request body, its bytes as they are (cost imports: the server reads UTF-8 or
 * Windows-1251, which Excel in Russia writes; decoding here would turn the latter into garbage).
 */
export async function postFile(path, bytes, contentType = 'text/csv') {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json', 'Content-Type': contentType, 'X-CSRF-Token': csrfToken() },
      body: bytes,
    });
  } catch (error) {
    throw new ApiError(0, 'network', String(error));
  }
  const data = (response.headers.get('Content-Type') || '').includes('application/json') ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    throw new ApiError(response.status, data && data.error ? data.error : `http-${response.status}`, data && data.message, data && data.details);
  }
  return data;
}

/** What went wrong, in words: the server's own message (it names the field), else a generic one. */
export function errorText(error) {
  if (!(error instanceof ApiError)) return error instanceof Error && error.message ? error.message : t('marketer.error.unexpected');
  if (error.status === 0) return t('marketer.error.network');
  if (error.status === 403) return t('marketer.error.forbidden');
  const field = error.details && typeof error.details.field === 'string' ? error.details.field : '';
  const message = error.message && error.message !== error.slug ? error.message : error.slug;
  return field && !message.includes(field) ? `${message} (${field})` : message;
}

/** The box a section shows instead of its content when its API answered with an error. */
export function errorBox(titleKey, error) {
  return h(
    'div',
    { class: 'mk-error', role: 'alert' },
    icon('alert'),
    h('div', {}, h('p', { class: 'mk-error-title' }, t(titleKey)), h('p', { class: 'mk-error-text' }, errorText(error))),
  );
}

export function encodeNumber(number) {
  return encodeURIComponent(number);
}

/**
 * Links to files (CSV reports, ad-platform exports) are fetched first: a refusal shows the server's words
 * in `status` instead of saving an error as a .csv; a good answer is saved under the link's file name.
 */
export function downloadOnClick(link, status, onSaved) {
  link.addEventListener('click', async (event) => {
    event.preventDefault();
    status.replaceChildren();
    link.setAttribute('aria-busy', 'true');
    try {
      let response;
      try {
        response = await fetch(link.href, { credentials: 'same-origin', cache: 'no-store' });
      } catch (error) {
        throw new ApiError(0, 'network', String(error));
      }
      if (!response.ok) {
        const data = (response.headers.get('Content-Type') || '').includes('application/json') ? await response.json().catch(() => null) : null;
        throw new ApiError(response.status, data && data.error ? data.error : `http-${response.status}`, data && data.message, data && data.details);
      }
      const url = URL.createObjectURL(await response.blob());
      const save = h('a', { href: url, download: link.getAttribute('download') || 'kolokol.csv', hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      if (onSaved) onSaved(response);
    } catch (error) {
      status.replaceChildren(errorBox('marketer.download_failed', error));
    } finally {
      link.removeAttribute('aria-busy');
    }
  });
}
