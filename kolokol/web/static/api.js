// fetch with the session cookie and the CSRF header; errors become ApiError with the server's slug.

import { csrfToken } from './page.js';
import { learnServerTime } from './format.js';

export class ApiError extends Error {
  /** @param {number} status @param {string} slug @param {string} message @param {object} details */
  constructor(status, slug, message, details) {
    super(message || slug);
    this.status = status;
    this.slug = slug;
    this.details = details || {};
  }
}

const listeners = { unauthenticated: [] };

/** Called when the server says the session is gone (401): the page asks to log in again. */
export function onUnauthenticated(callback) {
  listeners.unauthenticated.push(callback);
}

export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = csrfToken();
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network', String(error));
  }
  learnServerTime(response.headers.get('Date'));
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('application/json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const slug = data && typeof data.error === 'string' ? data.error : `http-${response.status}`;
    const error = new ApiError(response.status, slug, data && data.message, data && data.details);
    // 401: the login ended. csrf-failed: the browser logged in again elsewhere, so this page's token is stale.
    if (response.status === 401 || slug === 'csrf-failed') for (const callback of listeners.unauthenticated) callback(error);
    throw error;
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
