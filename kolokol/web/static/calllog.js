// The call log: every call (an operator's: those on their phones) over a period, filtered like the CSV
// it exports; a row opens the call's page. The filters live in the address, so back from a call's page,
// a bookmark or a link a colleague sent shows the same list.

import { showSessionEnded } from './common.js';
import { setDirectory, peopleAt } from './directory.js';
import { clear, h } from './dom.js';
import { duration, phone } from './format.js';
import { lang, t } from './i18n.js';
import { page, user } from './page.js';
import { addDays, directionCell, errorBox, get, handledBy, moment, partyLabel, recordingState, sourceLabel, startOf, statusBadge, talk, today, withQuery } from './calllog_format.js';

const PAGE_SIZE = 50;
const config = page.calllog || {};
// The filters a link may carry, as the API names them; from/to are days here, times for the API.
const FIELDS = ['from', 'to', 'branch', 'operator', 'direction', 'status', 'source', 'number', 'min_duration', 'max_duration', 'has_recording'];

const validDay = (value) => /^\d{4}-\d{2}-\d{2}$/.test(value || '') && !Number.isNaN(Date.parse(value));

/** The filters a link carries; the last seven days unless it names others. */
function readState(search) {
  const params = new URLSearchParams(search);
  const state = {};
  for (const name of FIELDS) state[name] = params.get(name) || '';
  const day = today();
  if (!validDay(state.from)) state.from = addDays(day, -6);
  if (!validDay(state.to)) state.to = day;
  const number = Number(params.get('page') || '1');
  state.page = Number.isInteger(number) && number > 0 ? number : 1;
  return state;
}

/** The API's filters for a state: days become the times they start and end. */
function apiFilters(state) {
  const filters = {};
  for (const name of FIELDS) filters[name] = state[name];
  filters.from = startOf(state.from);
  filters.to = startOf(addDays(state.to, 1));
  return filters;
}

function option(value, label, selected) {
  return h('option', { value, selected: value === selected }, label);
}

function select(name, choices, selected) {
  return h('select', { name, id: `filter-${name}` }, choices.map(([value, label]) => option(value, label, selected)));
}

function field(name, label, control) {
  return h('div', { class: `field cl-field cl-field-${name}` }, h('label', { for: `filter-${name}` }, label), control);
}

function presetButtons(form, state) {
  const day = today();
  const presets = [
    ['today', day, day],
    ['yesterday', addDays(day, -1), addDays(day, -1)],
    ['last_7', addDays(day, -6), day],
    ['last_30', addDays(day, -29), day],
  ];
  return presets.map(([key, from, to]) =>
    h(
      'button',
      {
        type: 'button',
        class: 'button-ghost button-small',
        'aria-pressed': String(state.from === from && state.to === to),
        dataset: { preset: key },
        onclick: () => {
          form.elements.from.value = from;
          form.elements.to.value = to;
          form.requestSubmit();
        },
      },
      t(`calls.preset.${key}`),
    ),
  );
}

function operatorChoices(directory) {
  const choices = [['', t('calls.filter.anyone')]];
  for (const item of directory) {
    const people = item.users && item.users.length ? item.users.join(', ') : '';
    choices.push([item.extension, people ? `${people} (${t('console.card.ext', { ext: item.extension })})` : t('console.card.ext', { ext: item.extension })]);
  }
  return choices;
}

function buildFilters(state, directory, onChange) {
  const any = t('calls.filter.any');
  const branches = config.branches || [];
  const form = h(
    'form',
    { class: 'cl-filters', role: 'search', id: 'filter-form', 'aria-label': t('calls.filters') },
    h('div', { class: 'cl-period' },
      field('from', t('calls.filter.from'), h('input', { type: 'date', name: 'from', id: 'filter-from', value: state.from, required: true })),
      field('to', t('calls.filter.to'), h('input', { type: 'date', name: 'to', id: 'filter-to', value: state.to, required: true })),
      h('div', { class: 'cl-presets' }),
    ),
    branches.length ? field('branch', t('calls.filter.branch'), select('branch', [['', any], ...branches.map((b) => [b, b])], state.branch)) : null,
    field('operator', t('calls.filter.operator'), select('operator', operatorChoices(directory), state.operator)),
    field('direction', t('calls.filter.direction'), select('direction', [['', any], ...['inbound', 'outbound', 'internal'].map((d) => [d, t(`calls.direction.${d}`)])], state.direction)),
    field('status', t('calls.filter.status'), select('status', [['', any], ...['answered', 'missed', 'unanswered'].map((s) => [s, t(`calls.status.${s}`)])], state.status)),
    field('source', t('calls.filter.source'), h('input', { type: 'text', name: 'source', id: 'filter-source', value: state.source, maxlength: 200, placeholder: t('calls.filter.source_hint'), list: 'source-choices' })),
    h('datalist', { id: 'source-choices' }, ['paid', 'organic', 'referral', 'social', 'email', 'direct', 'offline', 'other'].map((c) => h('option', { value: c }, t(`channel.${c}`)))),
    field('number', t('calls.filter.number'), h('input', { type: 'search', name: 'number', id: 'filter-number', value: state.number, maxlength: 60, inputmode: 'tel', autocomplete: 'off' })),
    field('min_duration', t('calls.filter.min_duration'), h('input', { type: 'number', name: 'min_duration', id: 'filter-min_duration', value: state.min_duration, min: 0, max: 604800, step: 1, class: 'cl-seconds' })),
    field('max_duration', t('calls.filter.max_duration'), h('input', { type: 'number', name: 'max_duration', id: 'filter-max_duration', value: state.max_duration, min: 0, max: 604800, step: 1, class: 'cl-seconds' })),
    field('has_recording', t('calls.filter.recording'), select('has_recording', [['', any], ['true', t('calls.filter.with_recording')], ['false', t('calls.filter.without_recording')]], state.has_recording)),
    h('div', { class: 'cl-actions' },
      h('button', { type: 'submit', class: 'button-primary' }, t('calls.filter.show')),
      h('button', { type: 'button', class: 'button-ghost', id: 'filter-reset', onclick: () => onChange({ page: 1 }, true) }, t('calls.filter.reset')),
      h('a', { class: 'button-secondary', id: 'csv-link', href: '#', download: '' }, t('calls.csv')),
    ),
  ); // prettier-ignore
  form.querySelector('.cl-presets').append(...presetButtons(form, state));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = { page: 1 };
    for (const name of FIELDS) {
      const element = form.elements[name];
      next[name] = element ? String(element.value).trim() : '';
    }
    onChange(next, false);
  });
  // Choosing from a list shows the result at once; typed fields wait for Enter or "Show".
  for (const element of form.querySelectorAll('select')) element.addEventListener('change', () => form.requestSubmit());
  return form;
}

function row(call) {
  const href = `/calls/${encodeURIComponent(call.id)}`;
  const recording = recordingState(call);
  return h(
    'tr',
    { class: `cl-row${call.status === 'answered' ? '' : ' is-missed'}`, dataset: { callId: call.id, href } },
    h('td', { class: 'cl-when' }, h('a', { href, class: 'cl-open' }, moment(call.started_at))),
    h('td', { class: 'cl-dir' }, directionCell(call)),
    h('td', { class: 'cl-party' }, h('span', { class: 'cl-party-name' }, partyLabel(call)), call.contacts && call.contacts.length && call.direction === 'inbound' ? h('span', { class: 'cl-party-number' }, phone(call.caller)) : null),
    h('td', { class: 'cl-branch' }, call.branch || ''),
    h('td', { class: 'cl-operator' }, handledBy(call)),
    h('td', {}, statusBadge(call)),
    h('td', { class: 'num' }, duration(call.wait_seconds)),
    h('td', { class: 'num cl-talk' }, talk(call)),
    h('td', { class: 'cl-source' }, sourceLabel(call)),
    h('td', { class: 'cl-rec' }, recording ? h('span', { class: `cl-rec-badge cl-rec-${recording}`, title: t(`calls.recording.${recording}`) }, t(`calls.recording.short.${recording}`)) : ''),
  ); // prettier-ignore
}

function table(items) {
  const heads = ['when', 'direction', 'party', 'branch', 'operator', 'status', 'wait', 'talk', 'source', 'recording'];
  const numeric = new Set(['wait', 'talk']);
  const body = h('tbody', {}, items.map(row));
  body.addEventListener('click', (event) => {
    const tr = event.target.closest('tr[data-href]');
    if (!tr || event.target.closest('a')) return;
    location.assign(tr.dataset.href);
  });
  return h(
    'table',
    { class: 'live-table cl-table', id: 'log-table' },
    h('thead', {}, h('tr', {}, heads.map((key) => h('th', { scope: 'col', class: numeric.has(key) ? 'num' : null }, t(`calls.col.${key}`))))),
    body,
  );
}

function pager(state, total, go) {
  const nav = document.getElementById('pager');
  clear(nav);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  nav.hidden = total <= PAGE_SIZE;
  if (nav.hidden) return;
  const first = (state.page - 1) * PAGE_SIZE + 1;
  const last = Math.min(total, state.page * PAGE_SIZE);
  nav.append(
    h('button', { type: 'button', class: 'button-secondary button-small', id: 'page-prev', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, t('calls.prev')),
    h('span', { class: 'cl-pager-text', id: 'page-text' }, t('calls.range', { first, last, total })),
    h('button', { type: 'button', class: 'button-secondary button-small', id: 'page-next', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, t('calls.next')),
  );
}

function addressOf(state) {
  const params = {};
  for (const name of FIELDS) params[name] = state[name];
  params.page = state.page > 1 ? state.page : '';
  return withQuery(location.pathname, params);
}

let state = readState(location.search);
let directory = [];
let loading = 0;

async function load() {
  const mine = ++loading;
  const wrap = document.getElementById('log-wrap');
  const status = document.getElementById('status');
  const count = document.getElementById('count');
  wrap.setAttribute('aria-busy', 'true');
  const filters = apiFilters(state);
  const csv = document.getElementById('csv-link');
  if (csv) csv.href = withQuery(config.csv || '/api/calls.csv', { ...filters, lang });
  try {
    const data = await get(withQuery(config.api || '/api/calls', { ...filters, limit: PAGE_SIZE, offset: (state.page - 1) * PAGE_SIZE }));
    if (mine !== loading) return;
    if (!data.items.length && state.page > 1 && data.total > 0) {
      // A link to a page past the end (fewer calls now): the first page instead of an empty one.
      state = { ...state, page: 1 };
      history.replaceState(null, '', addressOf(state));
      load();
      return;
    }
    clear(status);
    count.textContent = t('calls.count', { n: data.total });
    wrap.replaceChildren(data.items.length ? table(data.items) : h('p', { class: 'table-empty', id: 'log-empty' }, t('calls.empty')));
    pager(state, data.total, (number) => update({ page: number }));
  } catch (error) {
    if (mine !== loading) return;
    if (error && error.status === 401) return;
    status.replaceChildren(errorBox(error));
  } finally {
    if (mine === loading) wrap.removeAttribute('aria-busy');
  }
}

function render() {
  const holder = document.getElementById('filters');
  holder.replaceChildren(buildFilters(state, directory, update));
}

function update(next, reset) {
  state = { ...(reset ? readState('') : state), ...next };
  history.pushState(null, '', addressOf(state));
  render();
  load();
}

window.addEventListener('popstate', () => {
  state = readState(location.search);
  render();
  load();
});

async function start() {
  document.getElementById('scope').hidden = user.role !== 'operator';
  try {
    const live = await get('/api/live');
    directory = live.extensions || [];
    setDirectory(directory);
  } catch (error) {
    if (error && error.status === 401) {
      showSessionEnded();
      return;
    }
  }
  // An operator lists their own phones' calls: the operator filter offers their phones only.
  if (user.role === 'operator') directory = directory.filter((item) => user.extensions.includes(item.extension));
  if (user.role === 'operator' && !directory.length) directory = user.extensions.map((ext) => ({ extension: ext, users: peopleAt(ext) }));
  render();
  load();
}

start();
