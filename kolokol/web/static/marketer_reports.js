// "Reports": calls by channel, source, campaign… over any range of the clinic's days; a chart of calls per
// day for the leading groups, bars per group, the full table, and its CSV.

import { downloadOnClick, errorBox, get, withQuery } from './marketer_api.js';
import { ChartBox } from './marketer_charts.js';
import { h } from './dom.js';
import { phone } from './format.js';
import { lang, t } from './i18n.js';
import { addDays, amount, count, dayLabel, monthLabel, monthStart, previousMonthEnd, seconds, share, today, tracking } from './marketer_format.js';

export const GROUPS = ['channel', 'source', 'medium', 'campaign', 'term', 'landing_page', 'tracking_number', 'pool', 'branch'];
const CHANNELS = new Set(['paid', 'organic', 'referral', 'social', 'email', 'direct', 'offline', 'other']);
const TOP_SERIES = 5;
const TOP_BARS = 10;

const units = () => ({ s: t('marketer.unit.s'), min: t('marketer.unit.min'), h: t('marketer.unit.h') });

/** Money with its currency; a row mixing currencies shows each. */
function money(row, name) {
  const value = row ? row[name] : undefined;
  if (row && row.currency === 'mixed' && name === 'cost' && row.cost_by_currency) {
    return Object.entries(row.cost_by_currency).map(([currency, sum]) => `${amount(sum)} ${currency}`).join(' + ');
  }
  const text = amount(value);
  return text && row.currency ? `${text} ${row.currency}` : text;
}

// Every column of the report API (GET /api/tracking/report), in the order a marketer reads them: the
// field it comes from (also what the column sorts by) and how its cell reads.
const COLUMNS = [
  { key: 'calls', field: 'calls', cell: (row) => count(row.calls) },
  { key: 'unique_callers', field: 'unique_callers', cell: (row) => count(row.unique_callers) },
  { key: 'first_time_callers', field: 'first_time_callers', cell: (row) => count(row.first_time_callers) },
  { key: 'answered', field: 'answered', cell: (row) => count(row.answered) },
  { key: 'missed', field: 'missed', cell: (row) => count(row.missed) },
  { key: 'missed_reached', field: 'missed_then_reached', cell: (row) => count(row.missed_then_reached) },
  { key: 'reached_median', field: 'reached_median_minutes', cell: (row) => (typeof row.reached_median_minutes === 'number' ? seconds(row.reached_median_minutes * 60, units()) : '') },
  { key: 'target_calls', field: 'target_calls', cell: (row) => count(row.target_calls) },
  // Empty until the CRM reports leads back (the leads issue).
  { key: 'leads', field: 'leads', cell: (row) => count(row.leads) },
  { key: 'bookings', field: 'bookings', cell: (row) => count(row.bookings) },
  { key: 'revenue', field: 'revenue', cell: (row) => amount(row.revenue) },
  { key: 'cost', field: 'cost', cell: (row) => money(row, 'cost') },
  { key: 'cost_per_call', field: 'cost_per_call', cell: (row) => money(row, 'cost_per_call') },
  { key: 'cost_per_target_call', field: 'cost_per_target_call', cell: (row) => money(row, 'cost_per_target_call') },
];

/** A group's value as the table shows it: channels in words, numbers spaced, "(not set)" for none. */
export function groupLabel(group, value) {
  if (value === null || value === undefined || value === '') return t('marketer.report.not_set');
  if (group === 'channel' && CHANNELS.has(value)) return t(`channel.${value}`);
  if (group === 'tracking_number') return phone(String(value));
  return String(value);
}

function rowsOf(data) {
  return (data && data.rows) || [];
}

/** Days for a few months, weeks up to two years, months beyond: a chart of readable width. */
function intervalFor({ from, to }) {
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000 + 1;
  return days <= 92 ? 'day' : days <= 731 ? 'week' : 'month';
}

function presets(from, to, run) {
  const set = (a, b) => {
    from.value = a;
    to.value = b;
    run();
  };
  // "Today" when clicked: the page may have been open since yesterday.
  return [
    ['marketer.report.last_7', (day) => set(addDays(day, -6), day)],
    ['marketer.report.last_30', (day) => set(addDays(day, -29), day)],
    ['marketer.report.this_month', (day) => set(monthStart(day), day)],
    ['marketer.report.last_month', (day) => set(monthStart(previousMonthEnd(day)), previousMonthEnd(day))],
  ].map(([key, pick]) => h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => pick(today()) }, t(key)));
}

export function mountReports(root) {
  const day = today();
  const from = h('input', { type: 'date', name: 'from', id: 'report-from', value: addDays(day, -29), required: true });
  const to = h('input', { type: 'date', name: 'to', id: 'report-to', value: day, required: true });
  const group = h('select', { name: 'group', id: 'report-group' }, GROUPS.map((g) => h('option', { value: g }, t(`marketer.group.${g}`))));
  const csv = h('a', { class: 'button-secondary button-small', id: 'report-csv', href: '#', download: '' }, t('marketer.report.csv'));
  const form = h(
    'form',
    { class: 'mk-filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'report-from' }, t('marketer.report.from')), from),
    h('div', { class: 'field' }, h('label', { for: 'report-to' }, t('marketer.report.to')), to),
    h('div', { class: 'field' }, h('label', { for: 'report-group' }, t('marketer.report.group')), group),
    h('button', { type: 'submit', class: 'button-primary' }, t('marketer.report.show')),
    h('div', { class: 'mk-presets' }, presets(from, to, () => run())),
    h('div', { class: 'topbar-spacer' }),
    csv,
  );
  const note = h('p', { class: 'mk-hint', id: 'report-note' });
  const status = h('div', { id: 'report-status' });
  const totals = h('div', { class: 'summary mk-totals', id: 'report-totals' });
  const seriesBox = h('div', { class: 'mk-chart', id: 'chart-series', role: 'img' });
  const barsBox = h('div', { class: 'mk-chart', id: 'chart-groups', role: 'img' });
  const tableBox = h('div', { class: 'table-wrap', id: 'report-table-wrap' });
  const seriesTitle = h('h2', { class: 'section-title' }, t('marketer.report.per_day'));
  const barsTitle = h('h2', { class: 'section-title' }, t('marketer.report.per_group'));
  root.replaceChildren(
    form,
    note,
    status,
    totals,
    h('div', { class: 'mk-charts' }, h('section', { class: 'panel mk-chart-panel' }, seriesTitle, seriesBox), h('section', { class: 'panel mk-chart-panel' }, barsTitle, barsBox)),
    h('section', { class: 'panel', 'aria-labelledby': 'report-table-heading' }, h('h2', { class: 'section-title', id: 'report-table-heading' }, t('marketer.report.table')), tableBox),
  );
  downloadOnClick(csv, status);
  const seriesChart = new ChartBox(seriesBox);
  const barsChart = new ChartBox(barsBox);
  let generation = 0;

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  group.addEventListener('change', () => run());

  async function run() {
    if (!from.value || !to.value) return;
    if (from.value > to.value) [from.value, to.value] = [to.value, from.value];
    const mine = ++generation;
    const params = { group: group.value, from: from.value, to: to.value };
    csv.href = withQuery('/api/tracking/report', { ...params, format: 'csv', lang });
    csv.setAttribute('download', `kolokol-report-${params.group}-${params.from}-${params.to}.csv`);
    setText(note, t('marketer.report.range_note', { from: dayLabel(params.from), to: dayLabel(params.to), tz: tracking.timezone }));
    root.setAttribute('aria-busy', 'true');
    const [report, series] = await Promise.allSettled([get(withQuery('/api/tracking/report', params)), get(withQuery('/api/tracking/report/series', { ...params, interval: intervalFor(params), top: TOP_SERIES }))]);
    if (mine !== generation) return;
    root.removeAttribute('aria-busy');
    status.replaceChildren();
    if (report.status === 'rejected') {
      status.replaceChildren(errorBox('marketer.report.load_failed', report.reason));
      totals.replaceChildren();
      tableBox.replaceChildren();
      barsChart.empty(t('marketer.report.no_data'));
    } else {
      const rows = rowsOf(report.value);
      renderTotals(totals, report.value);
      tableBox.replaceChildren(reportTable(params.group, rows, report.value && report.value.totals));
      drawBars(barsChart, params.group, rows);
    }
    if (series.status === 'rejected') seriesChart.empty(t('marketer.report.series_failed', { message: series.reason.message || '' }));
    else drawSeries(seriesChart, params.group, series.value);
    const interval = series.status === 'fulfilled' && series.value ? series.value.interval : 'day';
    setText(seriesTitle, t(interval === 'month' ? 'marketer.report.per_month' : interval === 'week' ? 'marketer.report.per_week' : 'marketer.report.per_day'));
  }
  return run;
}

function setText(el, text) {
  el.textContent = text;
}

function renderTotals(box, data) {
  const totals = (data && data.totals) || {};
  const calls = totals.calls || 0;
  const answered = totals.answered || 0;
  const stats = [
    ['calls', count(calls)],
    ['answered', calls ? `${count(answered)} · ${share(answered / calls)}` : count(answered)],
    ['missed', count(totals.missed || 0)],
    ['target_calls', count(totals.target_calls || 0)],
  ];
  if (typeof totals.cost === 'number' || totals.currency === 'mixed') stats.push(['cost', money(totals, 'cost')]);
  if (typeof totals.cost_per_call === 'number') stats.push(['cost_per_call', money(totals, 'cost_per_call')]);
  box.replaceChildren(
    ...stats.map(([key, text]) => h('div', { class: 'stat', dataset: { kind: key, zero: String(text === '0') } }, h('span', { class: 'stat-value' }, text), h('span', { class: 'stat-label' }, t(`marketer.col.${key}`)))),
  );
}

/** The rows ordered by one column: numbers largest first (smallest with `ascending`), empty cells last. */
export function sortRows(rows, group, by, ascending) {
  const text = (row) => groupLabel(group, row.key);
  const compare = by === 'key' ? (a, b) => text(a).localeCompare(text(b), lang) : (a, b) => a[by] - b[by];
  const filled = rows.filter((row) => by === 'key' || typeof row[by] === 'number');
  const empty = rows.filter((row) => !filled.includes(row));
  filled.sort((a, b) => (ascending ? compare(a, b) : compare(b, a)));
  return [...filled, ...empty];
}

/** The report table; a click on a column's heading orders the rows by it (again: the other way). */
function reportTable(group, rows, totals) {
  if (!rows.length) return h('p', { class: 'table-empty' }, t('marketer.report.no_data'));
  const body = h('tbody');
  let sort = { by: 'calls', ascending: false };
  const headings = [{ key: 'group', field: 'key', label: t(`marketer.group.${group}`) }, ...COLUMNS.map((c) => ({ ...c, label: t(`marketer.col.${c.key}`) }))];
  const cells = headings.map((c) => {
    const button = h('button', { type: 'button', class: 'mk-sort', onclick: () => order(c.field) }, c.label);
    return { field: c.field, th: h('th', { scope: 'col', class: c.field === 'key' ? null : 'num' }, button) };
  });
  const render = () => {
    for (const { field, th } of cells) {
      if (field === sort.by) th.setAttribute('aria-sort', sort.ascending ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
    body.replaceChildren(
      ...sortRows(rows, group, sort.by, sort.ascending).map((row) =>
        h('tr', {}, h('th', { scope: 'row', class: 'mk-text' }, groupLabel(group, row.key)), COLUMNS.map((c) => h('td', { class: 'num', dataset: { col: c.key } }, c.cell(row)))),
      ),
    );
  };
  // Names read best A to Z; numbers largest first.
  const order = (field) => {
    sort = sort.by === field ? { by: field, ascending: !sort.ascending } : { by: field, ascending: field === 'key' };
    render();
  };
  render();
  const foot = totals ? h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, t('marketer.report.total')), COLUMNS.map((c) => h('td', { class: 'num', dataset: { col: c.key } }, c.cell(totals))))) : null;
  return h('table', { class: 'live-table mk-table', id: 'report-table' }, h('thead', {}, h('tr', {}, cells.map((c) => c.th))), body, foot);
}

function drawBars(chart, group, rows) {
  // Rows come ranked by calls; a row with costs but no calls has nothing to draw.
  const top = rows.filter((row) => row.calls > 0).slice(0, TOP_BARS);
  if (!top.length) {
    chart.empty(t('marketer.report.no_data'));
    return;
  }
  const labels = top.map((row) => groupLabel(group, row.key));
  const measure = (key, color) => ({ label: t(`marketer.col.${key}`), values: top.map((row) => row[key] || 0), color });
  chart.bars(
    labels,
    [measure('calls', '#0f6b64'), measure('answered', '#2f8f4e'), measure('missed', '#bd3128'), measure('target_calls', '#1f5fc4')],
    t('marketer.report.bars_summary', { groups: labels.join(', ') }),
    t(`marketer.group.${group}`),
  );
}

/** GET /api/tracking/report/series: {buckets: days, series: [{key, other, calls: per bucket}]}. */
function drawSeries(chart, group, data) {
  const days = (data && data.buckets) || [];
  const series = ((data && data.series) || []).map((s) => ({ label: s.other ? t('marketer.report.others') : groupLabel(group, s.key), values: s.calls || [] }));
  if (!days.length || !series.some((s) => s.values.some((n) => n > 0))) {
    chart.empty(t('marketer.report.no_data'));
    return;
  }
  const label = data.interval === 'month' ? monthLabel : dayLabel;
  chart.lines(days.map(label), series, t('marketer.report.series_summary', { groups: series.map((s) => s.label).join(', ') }), t(data.interval === 'month' ? 'marketer.report.month' : data.interval === 'week' ? 'marketer.report.week' : 'marketer.report.day'));
}
