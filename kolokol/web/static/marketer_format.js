// Numbers, money, shares and calendar days on the marketer page; days are the clinic's (its time zone).

import { lang } from './i18n.js';
import { page } from './page.js';

export const tracking = page.tracking || { can_edit: false, timezone: 'Europe/Moscow', target_call_seconds: 60, overflow_target: 0.01 };
export const canEdit = Boolean(tracking.can_edit);

const integer = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
const whole = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
const cents = new Intl.NumberFormat(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 });
const isoDay = new Intl.DateTimeFormat('en-CA', { timeZone: tracking.timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
const shortDay = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', timeZone: 'UTC' });
const dateTime = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: tracking.timezone });

function isNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A count; empty for a missing value (a column the leads issue will fill). */
export function count(value) {
  return isNumber(value) ? integer.format(value) : '';
}

export function amount(value) {
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) value = Number(value);
  if (!isNumber(value)) return '';
  // Money: whole amounts as they are, others with their kopecks («3 000,50»).
  return Number.isInteger(value) ? whole.format(value) : cents.format(value);
}

/** 0.034 → «3,4 %» */
export function share(value) {
  return isNumber(value) ? percent.format(value) : '';
}

/** Seconds as «45 с», «12 мин», «3 ч 5 мин»: how fast a missed caller was reached. */
export function seconds(value, units) {
  if (!isNumber(value)) return '';
  const s = Math.round(value);
  if (s < 60) return `${s} ${units.s}`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} ${units.min}`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? `${hours} ${units.h} ${minutes % 60} ${units.min}` : `${hours} ${units.h}`;
}

/** Today in the clinic's time zone, as YYYY-MM-DD. */
export function today() {
  return isoDay.format(new Date());
}

/** A YYYY-MM-DD day moved by `days` (calendar arithmetic in UTC: no DST surprises). */
export function addDays(day, days) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

export function monthStart(day) {
  return `${day.slice(0, 7)}-01`;
}

/** The last day of the month before the one `day` is in. */
export function previousMonthEnd(day) {
  return addDays(monthStart(day), -1);
}

/** «3 дек.» for a YYYY-MM-DD day. */
export function dayLabel(day) {
  const date = new Date(`${String(day).slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? String(day) : shortDay.format(date);
}

const shortMonth = new Intl.DateTimeFormat(lang, { month: 'short', year: 'numeric', timeZone: 'UTC' });

/** «нояб. 2026» for a YYYY-MM month. */
export function monthLabel(month) {
  const date = new Date(`${String(month).slice(0, 7)}-01T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? String(month) : shortMonth.format(date);
}

/** «3 дек., 14:05» in the clinic's time zone, for an ISO moment. */
export function moment(iso) {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '' : dateTime.format(at);
}

/** The current month as YYYY-MM in the clinic's time zone. */
export function thisMonth() {
  return today().slice(0, 7);
}
