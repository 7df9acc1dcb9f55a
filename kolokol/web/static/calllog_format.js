// What the call log and the call page share: their API calls (the header's indicator follows them) and
// how a call record reads to a manager (who called, which way, how it ended, its recording).

import { ApiError, request } from './api.js';
import { showConnection } from './common.js';
import { personAt } from './directory.js';
import { h, icon } from './dom.js';
import { duration, now, phone } from './format.js';
import { lang, t } from './i18n.js';
import { page } from './page.js';

/** A GET; the header's indicator says whether kolokol answers at all (any HTTP answer does). */
export async function get(path) {
  try {
    const data = await request('GET', path);
    showConnection('live');
    return data;
  } catch (error) {
    if (error instanceof ApiError && error.status === 0) showConnection('offline');
    else if (error instanceof ApiError && error.status !== 401) showConnection('live');
    throw error;
  }
}

/** A path with its query; empty values are left out. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// Days and times are the clinic's (tracking.timezone), as in its reports and CSV, whatever the PC's clock.
export const zone = (page.calllog && page.calllog.timezone) || 'Europe/Moscow';
const dateTime = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: zone });
const dateTimeSeconds = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: zone });
const isoDay = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
const wallClock = new Intl.DateTimeFormat('en-CA', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Today in the clinic: 2026-12-03. */
export function today() {
  return isoDay.format(now());
}

/** A day plus n days (calendar arithmetic, no time zone involved). */
export function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** How far the clinic's clock is ahead of UTC at this instant, in ms. */
function offsetAt(ms) {
  const parts = Object.fromEntries(wallClock.formatToParts(ms).map((part) => [part.type, part.value]));
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The instant a clinic day starts, as UTC ISO (twice round, for the days clocks change). */
export function startOf(day) {
  const [y, m, d] = day.split('-').map(Number);
  const midnight = Date.UTC(y, m - 1, d);
  const first = midnight - offsetAt(midnight);
  return new Date(midnight - offsetAt(first)).toISOString();
}

/** 3 дек. 2026 г., 14:05 */
export function moment(iso) {
  const at = Date.parse(iso || '');
  return Number.isNaN(at) ? '' : dateTime.format(at);
}

/** 14:05:32 */
export function clockTime(iso) {
  const at = Date.parse(iso || '');
  return Number.isNaN(at) ? '' : dateTimeSeconds.format(at);
}

/** The outside party's number (the caller of an incoming call, the number dialled for an outgoing one). */
export function outsideNumber(call) {
  if (call.direction === 'outbound') return call.called;
  if (call.direction === 'inbound') return call.caller;
  return null;
}

/** The other side in one line: the contact(s), the PBX's caller name, the number, or an extension. */
export function partyLabel(call) {
  const names = (call.contacts || []).map((c) => c.name).filter(Boolean);
  if (names.length) return names.join(', ');
  if (call.direction === 'inbound' && call.caller_name) return call.caller_name;
  if (call.direction === 'internal') return t('calls.internal_party', { from: personAt(call.caller), to: personAt(call.called) });
  const number = outsideNumber(call);
  return number ? phone(number) : t('console.card.hidden_number');
}

const DIRECTION_ICONS = { inbound: 'phone-in', outbound: 'phone-out', internal: 'phone' };

export function directionCell(call) {
  return h('span', { class: 'cl-direction', title: t(`calls.direction.${call.direction}`) }, icon(DIRECTION_ICONS[call.direction] || 'phone'), h('span', { class: 'visually-hidden' }, t(`calls.direction.${call.direction}`)));
}

export function statusBadge(call) {
  return h('span', { class: `cl-status cl-status-${call.status}` }, t(`calls.status.${call.status}`));
}

/** Talk time «4:05», or «—» for a call nobody answered. */
export function talk(call) {
  return call.status === 'answered' ? duration(call.talk_seconds) : '—';
}

/** The recording's state in a word: playable, being prepared, failed, removed; null when there is none. */
export function recordingState(call) {
  const recording = call.recording;
  if (!recording) return null;
  return recording.status || 'pending';
}

/** Who handled the call: the person at the extension that answered it. */
export function handledBy(call) {
  const ext = call.answered_by || call.operator;
  return ext ? personAt(ext) : '';
}

/** The attribution's source in words: «yandex · реклама». */
export function sourceLabel(call) {
  const source = call.source;
  if (!source) return '';
  const parts = [];
  if (source.source) parts.push(source.source);
  if (source.channel) parts.push(t(`channel.${source.channel}`));
  return parts.join(' · ');
}

export function errorBox(error) {
  const text = error instanceof ApiError && error.status === 0 ? t('console.error.network') : t('calls.error');
  return h('p', { class: 'notice cl-error', role: 'alert' }, icon('alert'), h('span', {}, text));
}
