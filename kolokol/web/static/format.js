// Numbers, times and durations as a receptionist reads them.

import { lang, t, tn } from './i18n.js';

// The server's clock minus ours, learnt from HTTP Date headers: a reception PC's clock is often a
// minute or two off, which would otherwise show "-1 min" or make a fresh task look overdue.
let offsetMs = 0;

export function learnServerTime(dateHeader) {
  if (!dateHeader) return;
  const server = Date.parse(dateHeader);
  if (Number.isNaN(server)) return;
  // A Date header has whole seconds: only correct clear skews.
  const skew = server + 500 - Date.now();
  offsetMs = Math.abs(skew) > 1500 ? skew : 0;
}

export function now() {
  return Date.now() + offsetMs;
}

export function parseTime(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** Whole seconds from an ISO time until now (never negative). */
export function secondsSince(iso) {
  const at = parseTime(iso);
  return at === null ? 0 : Math.max(0, Math.floor((now() - at) / 1000));
}

/** 0:42, 12:05, 1:02:03 */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** «только что», «12 мин назад», «2 ч 5 мин назад», «3 дня назад». */
export function ago(seconds) {
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return t('console.ago.now');
  if (minutes < 60) return t('console.ago.minutes', { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    const m = minutes % 60;
    return m ? t('console.ago.hours_minutes', { h: hours, m }) : t('console.ago.hours', { n: hours });
  }
  return tn('console.ago.days', Math.floor(hours / 24));
}

/** Minutes as a short span: «5 мин», «1 ч 20 мин». */
export function span(minutes) {
  const m = Math.max(0, Math.round(minutes));
  if (m < 60) return t('console.span.minutes', { n: m });
  const hours = Math.floor(m / 60);
  return m % 60 ? t('console.span.hours_minutes', { h: hours, m: m % 60 }) : t('console.span.hours', { n: hours });
}

const relative = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
const clock = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
const dayMonth = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short' });
const dayMonthYear = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', year: 'numeric' });

/** 09:30 */
export function timeOfDay(iso) {
  const at = parseTime(iso);
  return at === null ? '' : clock.format(at);
}

/** «сегодня в 09:30», «вчера в 18:02», «3 дня назад», «12 февр.» — when something happened. */
export function when(iso) {
  const at = parseTime(iso);
  if (at === null) return '';
  const then = new Date(at);
  const today = new Date(now());
  const startOfToday = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime();
  const days = Math.floor((startOfToday - new Date(then.getFullYear(), then.getMonth(), then.getDate()).getTime()) / 86400000);
  if (days <= 0) return t('console.when.today', { time: clock.format(at) });
  if (days === 1) return t('console.when.yesterday', { time: clock.format(at) });
  if (days < 7) return relative.format(-days, 'day');
  return then.getFullYear() === today.getFullYear() ? dayMonth.format(at) : dayMonthYear.format(at);
}

// Dates in contact records come as the clinic's export wrote them: 2026-03-15, 2026-03-15T10:00:00,
// 15.03.2026, 15/03/2026, 15-03-2026.
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const DAY_FIRST = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/;

/** {year, month, day} of a contact field's date, or null when it is no date. */
export function parseCalendarDate(value) {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  let year, month, day;
  const iso = ISO_DATE.exec(text);
  const dayFirst = iso ? null : DAY_FIRST.exec(text);
  if (iso) [year, month, day] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  else if (dayFirst) [year, month, day] = [Number(dayFirst[3]), Number(dayFirst[2]), Number(dayFirst[1])];
  else return null;
  const date = new Date(year, month - 1, day);
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) return null;
  return { year, month, day };
}

/** A contact field's date in one format whatever the export wrote: 03.12.2026. Other text as it is. */
export function calendarDate(value) {
  const date = parseCalendarDate(value);
  if (!date) return value == null ? '' : String(value);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(date.day)}.${pad(date.month)}.${date.year}`;
}

/** Whole years since a birth date (today on the server's clock), or null. */
export function ageOn(value, at = now()) {
  const born = parseCalendarDate(value);
  if (!born) return null;
  const today = new Date(at);
  let years = today.getFullYear() - born.year;
  if (today.getMonth() + 1 < born.month || (today.getMonth() + 1 === born.month && today.getDate() < born.day)) years -= 1;
  return years >= 0 && years < 150 ? years : null;
}

/** +7 916 123-45-67 for Russian numbers; other numbers as they are. */
export function phone(number) {
  if (!number) return '';
  const ru = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(number);
  if (ru) return `+7 ${ru[1]} ${ru[2]}-${ru[3]}-${ru[4]}`;
  return number;
}

/** Message ids are decimal strings of increasing integers, longer than a JS number holds exactly. */
export function newerId(candidate, held) {
  if (!candidate) return false;
  if (!held) return true;
  if (candidate.length !== held.length) return candidate.length > held.length;
  return candidate > held;
}
