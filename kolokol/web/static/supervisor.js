// The supervisor view: every live call, every phone (idle / ringing / talking), the callback list.

import { get } from './api.js';
import { CallStore, callerLabel, lineLabel, numberLabel } from './calls.js';
import { everySecond, showConnection, showSessionEnded, untilLoaded } from './common.js';
import { peopleAt, setDirectory } from './directory.js';
import { clear, h, icon, setText } from './dom.js';
import { Feed } from './feed.js';
import { duration, parseTime, secondsSince } from './format.js';
import { t } from './i18n.js';
import { callBack, canCallBack, mountExtensionPicker, onCallBackChange, setClickToCall } from './originate.js';
import { TaskList, TaskStore } from './tasks.js';

// A caller waiting this long on a ringing phone is worth a supervisor's glance (then: too long).
const LONG_WAIT_S = 30;
const TOO_LONG_WAIT_S = 60;

const calls = new CallStore();
const taskStore = new TaskStore();
const rowsBox = document.getElementById('live-rows');
const liveEmpty = document.getElementById('live-empty');
const grid = document.getElementById('ext-grid');
const extEmpty = document.getElementById('ext-empty');
const summary = document.getElementById('summary');
/** @type {Map<string, {el: HTMLElement, cells: any, entry: any}>} */
const rows = new Map();
/** extension -> users, from /api/live (active users' phones) plus any phone seen in a call */
let extensions = new Map();
let taskCounts = { open: 0, late: 0 };
// The feed is down: the board may be out of date, and its timers stop.
let stale = false;

function stateOf(call) {
  if (call.state === 'talking' || (call.talking && call.talking.length)) return 'talking';
  if (call.state === 'dialing') return 'dialing';
  return 'ringing';
}

const STATE_KEYS = {
  ringing: 'supervisor.state.ringing',
  dialing: 'supervisor.state.dialing',
  talking: 'supervisor.state.talking',
};

const DIRECTION_KEYS = {
  inbound: 'supervisor.direction.inbound',
  outbound: 'supervisor.direction.outbound',
  internal: 'supervisor.direction.internal',
};

const PHONE_KEYS = {
  idle: 'supervisor.ext.idle',
  ringing: 'supervisor.ext.ringing',
  talking: 'supervisor.ext.talking',
};

// -- the calls table -------------------------------------------------------------------------------

function makeRow(entry) {
  const cells = {
    state: h('span', { class: 'state-badge' }),
    who: h('span', { class: 'cell-who' }),
    number: h('span', { class: 'cell-number' }),
    line: h('td', { class: 'cell-line' }),
    phones: h('td', { class: 'cell-phones' }),
    wait: h('td', { class: 'num cell-timer' }),
    talk: h('td', { class: 'num cell-timer' }),
    queue: h('td', { class: 'cell-queue' }),
  };
  const el = h(
    'tr',
    { dataset: { callId: entry.call.id } },
    h('td', {}, cells.state),
    h('th', { scope: 'row' }, h('div', { class: 'cell-caller' }, h('span', { class: 'cell-direction' }, icon('phone-in')), h('span', { class: 'cell-ident' }, cells.who, cells.number))),
    cells.line,
    cells.phones,
    cells.wait,
    cells.talk,
    cells.queue,
  );
  return { el, cells, entry };
}

function fillRow(row) {
  const { call } = row.entry;
  const state = stateOf(call);
  row.el.dataset.state = state;
  row.cells.state.dataset.state = state;
  setText(row.cells.state, t(STATE_KEYS[state]));
  const who = callerLabel(row.entry);
  const number = numberLabel(row.entry);
  setText(row.cells.who, who);
  row.cells.who.classList.toggle('is-number', who === number);
  setText(row.cells.number, who === number ? '' : number);
  row.cells.number.hidden = who === number;
  const direction = row.el.querySelector('.cell-direction');
  const kind = call.direction === 'outbound' ? 'phone-out' : call.direction === 'internal' ? 'phone' : 'phone-in';
  if (direction.dataset.kind !== kind) {
    direction.dataset.kind = kind;
    direction.replaceChildren(icon(kind));
    direction.title = t(DIRECTION_KEYS[call.direction] || DIRECTION_KEYS.inbound);
  }
  setText(row.cells.line, lineLabel(row.entry));
  clear(row.cells.phones);
  for (const ext of call.talking || []) row.cells.phones.append(phoneChip(ext, 'talking'));
  for (const ext of call.ringing || []) {
    if ((call.talking || []).includes(ext)) continue;
    row.cells.phones.append(phoneChip(ext, 'ringing'));
  }
  setText(row.cells.queue, call.queue || '');
  tickRow(row);
}

/** A phone on a call, as the person who answers it (the extension in small print). */
function phoneChip(ext, state) {
  const people = peopleAt(ext);
  const label = people.length ? t('supervisor.ext.chip', { name: people.join(', '), ext }) : ext;
  return h(
    'span',
    { class: `ext-chip is-${state}`, dataset: { ext }, title: `${t(`supervisor.state.${state}`)}: ${label}`, 'aria-label': label },
    icon(state === 'talking' ? 'headset' : 'bell'),
    people.length ? h('span', { class: 'ext-chip-name' }, people.join(', ')) : null,
    h('span', { class: 'ext-chip-ext' }, ext),
  );
}

function tickRow(row) {
  if (stale) return;
  const { call } = row.entry;
  const answered = parseTime(call.answered_at);
  const started = parseTime(call.started_at);
  const wait = answered !== null && started !== null ? Math.max(0, (answered - started) / 1000) : secondsSince(call.started_at);
  setText(row.cells.wait, duration(wait));
  const waiting = answered === null && stateOf(call) === 'ringing';
  row.cells.wait.dataset.level = waiting && wait >= TOO_LONG_WAIT_S ? 'late' : waiting && wait >= LONG_WAIT_S ? 'warn' : '';
  setText(row.cells.talk, answered !== null ? duration(secondsSince(call.answered_at)) : '—');
}

function onCallChange(entry) {
  const id = entry.call.id;
  let row = rows.get(id);
  if (entry.call.state === 'ended') {
    if (row) {
      rows.delete(id);
      row.el.remove();
    }
  } else {
    if (!row) {
      row = makeRow(entry);
      rows.set(id, row);
    }
    row.entry = entry;
    fillRow(row);
  }
  for (const ext of [...(entry.call.ringing || []), ...(entry.call.talking || [])]) {
    if (!extensions.has(ext)) extensions.set(ext, []);
  }
  layout();
}

function layout() {
  const rank = { ringing: 0, dialing: 1, talking: 2 };
  const ordered = [...rows.values()].sort(
    (a, b) => rank[stateOf(a.entry.call)] - rank[stateOf(b.entry.call)] || (parseTime(a.entry.call.started_at) ?? 0) - (parseTime(b.entry.call.started_at) ?? 0),
  );
  let previous = null;
  for (const row of ordered) {
    const expected = previous ? previous.nextElementSibling : rowsBox.firstElementChild;
    if (expected !== row.el) {
      if (previous) previous.after(row.el);
      else rowsBox.prepend(row.el);
    }
    previous = row.el;
  }
  liveEmpty.hidden = rows.size > 0;
  renderExtensions();
  renderSummary();
}

// -- the phones panel --------------------------------------------------------------------------------

const tiles = new Map();

function phoneStates() {
  /** @type {Map<string, {state: string, entry: any}>} */
  const states = new Map();
  for (const row of rows.values()) {
    const call = row.entry.call;
    for (const ext of call.talking || []) states.set(ext, { state: 'talking', entry: row.entry });
    for (const ext of call.ringing || []) if (!states.has(ext)) states.set(ext, { state: 'ringing', entry: row.entry });
  }
  return states;
}

function renderExtensions() {
  const states = phoneStates();
  const names = [...extensions.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  for (const [ext, tile] of tiles) {
    if (!extensions.has(ext)) {
      tile.el.remove();
      tiles.delete(ext);
    }
  }
  let previous = null;
  for (const ext of names) {
    let tile = tiles.get(ext);
    if (!tile) {
      tile = {
        el: null,
        status: h('span', { class: 'ext-status' }),
        detail: h('span', { class: 'ext-detail' }),
        timer: h('span', { class: 'ext-timer' }),
      };
      tile.users = h('span', { class: 'ext-users' });
      tile.el = h(
        'li',
        { class: 'ext-tile', dataset: { ext } },
        h('span', { class: 'ext-head' }, h('span', { class: 'ext-number' }, ext), h('span', { class: 'ext-line' }, h('span', { class: 'ext-dot', 'aria-hidden': 'true' }), tile.status, tile.timer)),
        tile.users,
        tile.detail,
      );
      tiles.set(ext, tile);
    }
    const owners = extensions.get(ext) || [];
    setText(tile.users, owners.length ? owners.join(', ') : t('supervisor.ext.nobody'));
    tile.users.classList.toggle('is-empty', owners.length === 0);
    const current = states.get(ext);
    tile.current = current || null;
    const state = current ? current.state : 'idle';
    tile.el.dataset.state = state;
    setText(tile.status, t(PHONE_KEYS[state]));
    setText(tile.detail, current ? callerLabel(current.entry) : '');
    tile.detail.hidden = !current;
    tickTile(tile);
    const expected = previous ? previous.nextElementSibling : grid.firstElementChild;
    if (expected !== tile.el) {
      if (previous) previous.after(tile.el);
      else grid.prepend(tile.el);
    }
    previous = tile.el;
  }
  extEmpty.hidden = names.length > 0;
}

function tickTile(tile) {
  if (stale) return;
  const current = tile.current;
  if (!current) {
    setText(tile.timer, '');
    return;
  }
  const call = current.entry.call;
  setText(tile.timer, duration(secondsSince(current.state === 'talking' ? call.answered_at || call.started_at : call.started_at)));
}

function renderSummary() {
  const list = [...rows.values()].map((row) => stateOf(row.entry.call));
  const ringing = list.filter((state) => state === 'ringing').length;
  const talking = list.filter((state) => state === 'talking').length;
  const items = [
    ['ringing', t('supervisor.summary.ringing'), ringing],
    ['talking', t('supervisor.summary.talking'), talking],
    ['tasks', t('supervisor.summary.tasks'), taskCounts.open],
    ['late', t('supervisor.summary.late'), taskCounts.late],
  ];
  clear(summary);
  for (const [kind, label, value] of items) {
    summary.append(h('div', { class: 'stat', dataset: { kind, zero: String(value === 0) } }, h('span', { class: 'stat-value' }, String(value)), h('span', { class: 'stat-label' }, label)));
  }
}

document.addEventListener('kolokol:tasks', (event) => {
  taskCounts = event.detail;
  renderSummary();
});

// -- start -----------------------------------------------------------------------------------------------

async function reload() {
  const live = await get('/api/live');
  setDirectory(live.extensions);
  setClickToCall(live.click_to_call);
  const next = new Map();
  for (const item of live.extensions || []) next.set(item.extension, item.users || []);
  for (const ext of extensions.keys()) if (!next.has(ext)) next.set(ext, []);
  extensions = next;
  calls.snapshot(live);
  await taskStore.reload();
  layout();
  return live.last_id || null;
}

calls.subscribe(onCallChange);
new TaskList(document.getElementById('tasks'), {
  store: taskStore,
  canCallBack,
  onCallBackChange,
  canComplete: false,
  onCallBack: (task) => callBack(task.number, task.number_display || task.number),
});
mountExtensionPicker(document.getElementById('me-ext'));
renderSummary();
everySecond(() => {
  for (const row of rows.values()) tickRow(row);
  for (const tile of tiles.values()) tickTile(tile);
});

const lastId = await untilLoaded(reload);
new Feed({
  subscription: { all: true },
  onMessage: (message) => {
    if (message.type && message.type.startsWith('call.')) calls.apply(message);
    else if (message.type === 'task.created' || message.type === 'task.updated') taskStore.apply(message.task);
  },
  onStatus: (status) => {
    showConnection(status);
    stale = status === 'reconnecting' || status === 'offline';
    document.getElementById('main').dataset.stale = String(stale);
  },
  onResync: reload,
  onSessionEnded: showSessionEnded,
}).start(lastId);
