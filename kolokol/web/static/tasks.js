// The callback list: tasks waiting for a call back, most overdue first, with minutes since the miss and
// SLA colours; tasks not reached wait in "later" until they come back. A close or "not reached" leaves
// an undo in the row for a few seconds, and rows stay put under the pointer: while it is over the list
// (or the keyboard is in it) rows change in place, new ones join at the end and closed ones stay where
// they are, greyed; the list settles once the pointer leaves.

import { ApiError, get, post } from './api.js';
import { everySecond } from './common.js';
import { onDirectoryChange, peopleOn } from './directory.js';
import { h, icon, setText } from './dom.js';
import { ago, now, parseTime, span, timeOfDay } from './format.js';
import { t, tn } from './i18n.js';
import { page, user } from './page.js';
import { toast } from './toast.js';

const FILTER_KEY = `kolokol.${user.username}.tasks.filter`;
// After the pointer leaves, the list settles this much later (a pointer crossing the edge is no leave).
const SETTLE_MS = 400;
const REFRESH_EVERY_S = 15;

/** calm | warn | late: amber `task_warning_minutes` before due, red once overdue. */
export function slaState(task, at = now()) {
  const due = parseTime(task.due_at);
  if (due === null) return 'calm';
  if (at >= due) return 'late';
  if (at >= due - page.console.task_warning_minutes * 60000) return 'warn';
  return 'calm';
}

/** Not reached a moment ago: the task waits until `waiting_until` (a new miss ends the wait at once). */
export function waiting(task, at = now()) {
  const until = parseTime(task.waiting_until);
  return until !== null && until > at;
}

const isMine = (name) => Boolean(name) && name.toLowerCase() === user.username.toLowerCase();

export class TaskStore {
  constructor() {
    /** @type {Map<string, {task: any, seq: number}>} open tasks */
    this.tasks = new Map();
    /** the newest version seen of every task, open or closed: an older state never wins */
    this.versions = new Map();
    this.seq = 0;
    this.listeners = [];
  }

  subscribe(listener) {
    this.listeners.push(listener);
  }

  emit(change) {
    for (const listener of this.listeners) listener(change);
  }

  newer(task) {
    const seen = this.versions.get(task.id);
    return seen === undefined || (task.version ?? 0) >= seen;
  }

  /** From the feed or an action's answer. Returns 'created' | 'updated' | 'closed' | null. */
  apply(task) {
    if (!task || !task.id || !this.newer(task)) return null;
    this.versions.set(task.id, task.version ?? 0);
    this.seq += 1;
    if (task.status !== 'open') {
      const had = this.tasks.delete(task.id);
      if (had) this.emit({ kind: 'closed', task });
      return had ? 'closed' : null;
    }
    const existed = this.tasks.has(task.id);
    this.tasks.set(task.id, { task, seq: this.seq });
    this.emit({ kind: existed ? 'updated' : 'created', task });
    return existed ? 'updated' : 'created';
  }

  /**
   * Closed by a colleague first (409), or gone (404, `forever`). A closed task's version is above the
   * open one held, so a list fetched before the close cannot bring it back; a reopening (an undo) is
   * newer still and does.
   */
  remove(taskId, forever = false) {
    const held = this.tasks.get(taskId);
    const version = forever ? Infinity : (held ? held.task.version ?? 0 : this.versions.get(taskId) ?? 0) + 1;
    this.versions.set(taskId, Math.max(version, this.versions.get(taskId) ?? 0));
    if (this.tasks.delete(taskId)) this.emit({ kind: 'closed', task: { id: taskId } });
  }

  /** Load the open list; feed updates that arrived while it was in flight win. */
  async reload() {
    const startedAt = this.seq;
    const answer = await get('/api/tasks?status=open&limit=500');
    const next = new Map();
    for (const task of answer.items || []) {
      if (task.status !== 'open' || !this.newer(task)) continue;
      this.versions.set(task.id, task.version ?? 0);
      next.set(task.id, { task, seq: 0 });
    }
    for (const [id, held] of this.tasks) if (held.seq > startedAt) next.set(id, held);
    this.tasks = next;
    this.emit({ kind: 'reloaded' });
  }

  sorted() {
    return [...this.tasks.values()].map((held) => held.task).sort(byDue);
  }

  /** A number's patient got a name (a contact created on this console): its tasks show it at once. */
  named(number, contact) {
    for (const held of this.tasks.values()) {
      if (held.task.number !== number) continue;
      const contacts = [...(held.task.contacts || []).filter((c) => c.id !== contact.id), { id: contact.id, name: contact.name }];
      held.task = { ...held.task, contacts };
      this.emit({ kind: 'updated', task: held.task });
    }
  }
}

function byDue(a, b) {
  return (parseTime(a.due_at) ?? 0) - (parseTime(b.due_at) ?? 0) || String(a.id).localeCompare(String(b.id));
}

function byReturn(a, b) {
  return (parseTime(a.waiting_until) ?? 0) - (parseTime(b.waiting_until) ?? 0) || byDue(a, b);
}

export function who(task) {
  const names = (task.contacts || []).map((c) => c.name).filter(Boolean);
  return names.length ? names.join(', ') : task.number_display || task.number;
}

/** «Закрыто: Борис Орлов» for a task someone else closed while the pointer was on it. */
function goneText(task) {
  if (task && task.resolution === 'reached') return t('console.tasks.gone_reached');
  if (task && (task.closed_by_name || task.closed_by)) return t('console.tasks.gone_by', { who: task.closed_by_name || task.closed_by });
  return t('console.tasks.gone');
}

/** What my close or "not reached" did, said in the row with its undo. */
function doneText(task) {
  if (task.status === 'open') return t('console.tasks.attempt_waiting', { time: timeOfDay(task.waiting_until || task.next_attempt_at) });
  if (task.resolution === 'unreachable' && task.attempts) return tn('console.tasks.closed_unreachable', task.attempts);
  return t('console.tasks.closed_done');
}

/**
 * The list view. Rows are kept per task and updated in place, so a focused button keeps its focus.
 * @param {HTMLElement} container
 * @param {{store: TaskStore, canCallBack: () => boolean, onCallBackChange?: (listener: () => void) => void,
 *          canComplete: boolean, onCallBack: (task: any) => Promise<boolean>}} options
 */
export class TaskList {
  constructor(container, options) {
    this.options = options;
    this.store = options.store;
    /** @type {Map<string, any>} */
    this.rows = new Map();
    /** rows kept whatever the store says: my action's undo (kind 'undo'), a task closed under the pointer ('gone') */
    this.pinned = new Map();
    this.hovered = false;
    this.settleTimer = 0;
    this.ticks = 0;
    this.filter = localStorage.getItem(FILTER_KEY) === 'mine' ? 'mine' : 'all';
    this.count = h('span', { class: 'count', 'aria-live': 'polite' });
    this.lateCount = h('span', { class: 'count count-late', hidden: true });
    const filterButton = (value, label) =>
      h('button', { type: 'button', class: 'seg-button', dataset: { filter: value }, 'aria-pressed': String(this.filter === value), onclick: () => this.setFilter(value) }, label);
    this.filterButtons = [filterButton('all', t('console.tasks.filter_all')), filterButton('mine', t('console.tasks.filter_mine'))];
    const heading = container.querySelector('.section-title') || h('h2', { class: 'section-title' }, t('console.tasks.heading'));
    heading.append(' ', this.count, ' ', this.lateCount);
    this.list = h('ol', { class: 'task-list', 'aria-labelledby': heading.id || null });
    this.laterCount = h('span', { class: 'count' });
    this.laterList = h('ol', { class: 'task-list task-list-later' });
    this.later = h('details', { class: 'tasks-later', hidden: true }, h('summary', { class: 'tasks-later-title' }, t('console.tasks.later_heading'), ' ', this.laterCount), this.laterList);
    this.empty = h('div', { class: 'tasks-empty' }, icon('check-circle'), h('p', { class: 'tasks-empty-title' }), h('p', { class: 'tasks-empty-hint' }));
    this.loading = h('p', { class: 'tasks-loading' }, t('console.tasks.loading'));
    this.scroll = h('div', { class: 'tasks-scroll' }, this.loading, this.list, this.empty, this.later);
    container.replaceChildren(h('div', { class: 'tasks-head' }, heading, h('div', { class: 'seg', role: 'group', 'aria-label': t('console.tasks.filter_label') }, this.filterButtons)), this.scroll);
    this.empty.hidden = true;
    this.scroll.addEventListener('pointerenter', () => this.hold(true));
    this.scroll.addEventListener('pointerleave', () => this.hold(false));
    this.scroll.addEventListener('focusout', () => this.settleSoon());
    this.store.subscribe((change) => this.changed(change));
    if (options.onCallBackChange) options.onCallBackChange(() => this.refill());
    onDirectoryChange(() => this.refill());
    everySecond(() => this.tickSecond());
  }

  /** Keyboard focus in the list holds it like the pointer does (a mouse click's focus does not). */
  get frozen() {
    const focused = document.activeElement;
    return this.hovered || Boolean(focused && this.scroll.contains(focused) && focused.matches(':focus-visible'));
  }

  hold(on) {
    this.hovered = on;
    this.scroll.dataset.held = String(on);
    if (!on) this.settleSoon();
  }

  settleSoon() {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (!this.frozen) this.render();
    }, SETTLE_MS);
  }

  setFilter(value) {
    this.filter = value;
    localStorage.setItem(FILTER_KEY, value);
    for (const button of this.filterButtons) button.setAttribute('aria-pressed', String(button.dataset.filter === value));
    this.render(true);
  }

  visible() {
    const all = this.store.sorted();
    return this.filter === 'mine' ? all.filter((task) => isMine(task.assignee)) : all;
  }

  changed(change) {
    if (change.kind === 'closed') {
      const row = this.rows.get(change.task.id);
      const pin = this.pinned.get(change.task.id);
      const closed = { ...(row ? row.task : {}), ...change.task };
      if (row && !pin && this.frozen) this.pinned.set(change.task.id, { kind: 'gone', task: closed });
      else if (pin && pin.kind === 'gone') pin.task = { ...pin.task, ...change.task };
    }
    this.render();
  }

  /** Lay the rows out; while frozen, only in place (see the top of this file) unless `force`. */
  render(force = false) {
    this.loading.hidden = true;
    const at = now();
    const tasks = this.visible();
    const byId = new Map(tasks.map((task) => [task.id, task]));
    const frozen = this.frozen && !force;
    if (!frozen) for (const [id, pin] of this.pinned) if (pin.kind === 'gone') this.pinned.delete(id);
    // My "not reached" from before a reload can still be undone: the server keeps the undo, not the page.
    for (const task of tasks) {
      const until = task.undo && isMine(task.undo.by) ? parseTime(task.undo.until) : null;
      if (until !== null && until > at && !this.pinned.has(task.id)) this.pinned.set(task.id, { kind: 'undo', task, until });
    }
    for (const [id, pin] of this.pinned) if (!byId.has(id)) byId.set(id, pin.task);
    const inLater = (task) => !this.pinned.has(task.id) && waiting(task, at);
    let main;
    let later;
    if (frozen) {
      const placed = (listEl) => [...listEl.children].map((el) => el.dataset.taskId).filter((id) => byId.has(id) || this.pin(id));
      main = placed(this.list);
      later = placed(this.laterList);
      for (const [id, task] of byId) {
        if (this.rows.has(id)) continue;
        (inLater(task) ? later : main).push(id);
      }
    } else {
      const all = [...byId.values()];
      main = all.filter((task) => !inLater(task)).sort(byDue).map((task) => task.id);
      later = all.filter(inLater).sort(byReturn).map((task) => task.id);
    }
    const wanted = new Set([...main, ...later]);
    for (const [id, row] of this.rows) {
      if (!wanted.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    this.place(this.list, main, byId);
    this.place(this.laterList, later, byId);
    this.renderCounts(tasks, at);
  }

  /** A row still on screen whose task left the list: kept, greyed, while frozen. */
  pin(id) {
    if (this.pinned.has(id)) return true;
    const row = this.rows.get(id);
    if (!row) return false;
    this.pinned.set(id, { kind: 'gone', task: row.task });
    return true;
  }

  place(listEl, ids, byId) {
    let previous = null;
    for (const id of ids) {
      let row = this.rows.get(id);
      if (!row) {
        row = this.makeRow(byId.get(id));
        this.rows.set(id, row);
      }
      const pin = this.pinned.get(id);
      row.task = pin && pin.kind === 'undo' ? pin.task : this.store.tasks.get(id)?.task || pin?.task || row.task;
      this.fill(row);
      // Move only rows that are out of place (moving a row would drop the focus inside it).
      const expected = previous ? previous.nextElementSibling : listEl.firstElementChild;
      if (expected !== row.el) {
        if (previous) previous.after(row.el);
        else listEl.prepend(row.el);
      }
      previous = row.el;
    }
  }

  renderCounts(tasks, at = now()) {
    const all = this.store.sorted();
    const ready = all.filter((task) => !waiting(task, at));
    setText(this.count, String(ready.length));
    this.count.setAttribute('aria-label', tn('console.tasks.count', ready.length));
    const late = ready.filter((task) => slaState(task, at) === 'late').length;
    this.lateCount.hidden = late === 0;
    // Just the number next to the total (the heading has room for no more); the words are its label.
    setText(this.lateCount, String(late));
    this.lateCount.title = t('console.tasks.late_count', { n: late });
    this.lateCount.setAttribute('aria-label', this.lateCount.title);
    const laterShown = this.laterList.children.length;
    this.later.hidden = laterShown === 0;
    setText(this.laterCount, String(laterShown));
    this.empty.hidden = this.list.children.length > 0;
    const [title, hint] = this.empty.querySelectorAll('p');
    const onlyMine = this.filter === 'mine' && all.length > 0;
    setText(title, onlyMine ? t('console.tasks.empty_mine') : t('console.tasks.empty'));
    setText(hint, onlyMine ? t('console.tasks.empty_mine_hint') : t('console.tasks.empty_hint'));
    document.dispatchEvent(new CustomEvent('kolokol:tasks', { detail: { open: ready.length, late, later: all.length - ready.length } }));
  }

  /** Draw the eye to a new task for a few seconds. */
  flash(taskId) {
    const row = this.rows.get(taskId);
    if (!row) return;
    row.el.classList.add('is-new');
    setTimeout(() => row.el.classList.remove('is-new'), 4000);
  }

  refill() {
    for (const row of this.rows.values()) this.fill(row);
  }

  tickSecond() {
    const at = now();
    let expired = false;
    for (const [id, pin] of this.pinned) {
      if (pin.kind !== 'undo') continue;
      if (at >= pin.until) {
        // Too late to undo: the row becomes what it is now (closed rows go once the list is free).
        this.pinned.delete(id);
        if (!this.store.tasks.has(id)) this.pinned.set(id, { kind: 'gone', task: pin.task, mine: true });
        expired = true;
      } else {
        const row = this.rows.get(id);
        if (row) this.fillUndo(row, pin, at);
      }
    }
    this.ticks += 1;
    if (expired || this.ticks % REFRESH_EVERY_S === 0) this.render();
  }

  makeRow(task) {
    const row = { task, busy: false };
    row.who = h('span', { class: 'task-who' });
    row.meta = h('span', { class: 'task-meta' });
    row.ago = h('span', { class: 'task-ago' });
    row.due = h('span', { class: 'task-due' });
    row.inCall = h('p', { class: 'task-in-call', hidden: true });
    const button = (cls, iconName, label, hint, handler) =>
      h('button', { type: 'button', class: cls, title: hint, onclick: () => this.act(row, handler) }, icon(iconName), h('span', {}, label));
    const actions = [];
    row.callBack = button('button-primary button-small button-call', 'phone', t('console.tasks.call_back'), t('console.tasks.call_back_hint'), () => this.callBack(row));
    actions.push(row.callBack);
    row.assign = button('button-secondary button-small', 'user-check', t('console.tasks.assign'), null, () => this.assign(row));
    actions.push(row.assign);
    if (this.options.canComplete) {
      actions.push(
        button('button-secondary button-small', 'check', t('console.tasks.done'), t('console.tasks.done_hint'), () => this.complete(row)),
        button('button-secondary button-small', 'phone-off', t('console.tasks.unreachable'), t('console.tasks.unreachable_hint'), () => this.attempt(row)),
      );
    }
    row.body = h(
      'div',
      { class: 'task-body' },
      h('div', { class: 'task-line' }, row.who, row.ago),
      h('div', { class: 'task-line task-sub' }, row.meta, row.due),
      row.inCall,
      h('div', { class: 'task-actions' }, actions),
    );
    row.outcome = h('span', { class: 'task-outcome-text' });
    row.undo = h('button', { type: 'button', class: 'button-secondary button-small task-undo-button', onclick: () => this.undo(row) }, icon('undo'), h('span', {}, t('console.tasks.undo')));
    row.countdown = h('span', { class: 'task-undo-countdown', 'aria-hidden': 'true' });
    row.strip = h('div', { class: 'task-outcome', role: 'status', hidden: true }, row.outcome, row.countdown, row.undo);
    row.el = h('li', { class: 'task', dataset: { taskId: task.id } }, h('div', { class: 'task-sla', 'aria-hidden': 'true' }), row.body, row.strip);
    return row;
  }

  fill(row) {
    const task = row.task;
    const pin = this.pinned.get(task.id);
    row.el.dataset.state = pin ? pin.kind : 'open';
    row.strip.hidden = !pin;
    // The strip covers the row's own lines, which keep their height: nothing below moves.
    row.body.inert = Boolean(pin);
    if (pin) {
      if (pin.kind === 'undo') this.fillUndo(row, pin, now());
      else {
        setText(row.outcome, pin.mine ? doneText(pin.task) : goneText(pin.task));
        row.undo.hidden = true;
        row.countdown.hidden = true;
      }
    }
    const at = now();
    const state = slaState(task, at);
    row.el.dataset.sla = state;
    const name = who(task);
    setText(row.who, name);
    const display = task.number_display || task.number;
    const since = Math.max(0, Math.floor((at - (parseTime(task.first_missed_at) ?? at)) / 1000));
    setText(row.ago, ago(since));
    const due = parseTime(task.due_at);
    if (waiting(task, at)) setText(row.due, t('console.tasks.back_at', { time: timeOfDay(task.waiting_until) }));
    else if (due !== null && state === 'late') setText(row.due, t('console.tasks.overdue', { span: span((at - due) / 60000) }));
    else setText(row.due, t('console.tasks.due', { time: timeOfDay(task.due_at) }));
    const parts = name === display ? [] : [display];
    parts.push(tn('console.tasks.missed', task.missed_calls || 1));
    if (task.missed_calls > 1 && task.last_missed_at) parts.push(t('console.tasks.last_missed', { time: timeOfDay(task.last_missed_at) }));
    if (task.attempts) {
      parts.push(t('console.tasks.attempts', { n: task.attempts, max: page.console.max_attempts }));
      if (task.last_attempt_at) parts.push(t('console.tasks.last_attempt', { who: task.last_attempt_by_name || task.last_attempt_by || '', time: timeOfDay(task.last_attempt_at) }));
    }
    if (task.assignee) parts.push(isMine(task.assignee) ? t('console.tasks.assignee_me') : t('console.tasks.assignee', { name: task.assignee_name || task.assignee }));
    setText(row.meta, parts.join(' · '));
    this.fillInCall(row, task.in_call);
    row.el.classList.toggle('is-mine', isMine(task.assignee));
    row.assign.hidden = isMine(task.assignee);
    row.callBack.hidden = !this.options.canCallBack();
    row.el.setAttribute('aria-label', `${name}, ${row.ago.textContent}, ${row.due.textContent}`);
  }

  /** Someone is on the line with this patient (any phone, any PBX): nobody else should call now. */
  fillInCall(row, inCall) {
    row.el.dataset.inCall = inCall ? inCall.state : '';
    row.inCall.hidden = !inCall;
    row.callBack.disabled = Boolean(inCall);
    row.callBack.title = inCall ? t('console.tasks.busy_hint') : t('console.tasks.call_back_hint');
    if (!inCall) return;
    const people = peopleOn(inCall.extensions);
    let text;
    if (inCall.state === 'dialing') text = t('console.tasks.dialing', { who: people || '…' });
    else text = people ? t('console.tasks.in_call', { who: people }) : t('console.tasks.in_call_now');
    row.inCall.replaceChildren(icon('headset'), h('span', {}, text));
  }

  fillUndo(row, pin, at) {
    setText(row.outcome, doneText(pin.task));
    row.undo.hidden = false;
    row.countdown.hidden = false;
    setText(row.countdown, String(Math.max(0, Math.ceil((pin.until - at) / 1000))));
  }

  async act(row, handler) {
    if (row.busy) return;
    row.busy = true;
    row.el.classList.add('is-busy');
    try {
      await handler();
    } finally {
      row.busy = false;
      row.el.classList.remove('is-busy');
    }
  }

  async callBack(row) {
    await this.options.onCallBack(row.task);
  }

  async assign(row) {
    try {
      this.store.apply(await post(`/api/tasks/${encodeURIComponent(row.task.id)}/assign`, {}));
    } catch (error) {
      this.failed(row, error);
    }
  }

  async complete(row) {
    await this.closing(row, 'complete', { resolution: 'done' });
  }

  async attempt(row) {
    await this.closing(row, 'attempt', {});
  }

  /** A close or "not reached": done at once on the server; the row offers the undo while it may. */
  async closing(row, action, body) {
    const id = row.task.id;
    let answer;
    try {
      answer = await post(`/api/tasks/${encodeURIComponent(id)}/${action}`, body);
    } catch (error) {
      this.failed(row, error);
      return;
    }
    const until = answer.undo ? parseTime(answer.undo.until) : null;
    if (until !== null && until > now()) this.pinned.set(id, { kind: 'undo', task: answer, until });
    else this.pinned.set(id, { kind: 'gone', task: answer, mine: true });
    this.store.apply(answer);
    this.render();
    // The undo button replaces the one pressed, in the same place: keep the keyboard where it was.
    if (document.activeElement === document.body && !row.undo.hidden) row.undo.focus({ preventScroll: true });
  }

  async undo(row) {
    const id = row.task.id;
    const name = who(row.task);
    if (row.busy) return;
    row.busy = true;
    try {
      const answer = await post(`/api/tasks/${encodeURIComponent(id)}/undo`, {});
      this.pinned.delete(id);
      this.store.apply(answer);
      toast(t('console.tasks.undone', { who: name }), 'ok');
    } catch (error) {
      const pin = this.pinned.get(id);
      if (pin) this.pinned.set(id, { kind: 'gone', task: pin.task, mine: true });
      const keys = { 'undo-expired': 'console.tasks.undo_expired', 'task-changed': 'console.tasks.undo_changed', 'task-superseded': 'console.tasks.undo_superseded', 'nothing-to-undo': 'console.tasks.undo_changed' };
      const key = error instanceof ApiError ? keys[error.slug] : null;
      if (key) toast(t(key, { who: name }), 'info');
      else this.failed(row, error);
    } finally {
      row.busy = false;
      this.render();
    }
  }

  failed(row, error) {
    if (error instanceof ApiError && error.slug === 'task-closed') {
      this.store.remove(row.task.id);
      toast(t('console.tasks.already_closed', { who: who(row.task) }), 'info');
    } else if (error instanceof ApiError && error.status === 404) {
      this.store.remove(row.task.id, true);
    } else if (error instanceof ApiError && error.slug === 'network') {
      toast(t('console.error.network'), 'error');
    } else if (!(error instanceof ApiError && error.status === 401)) {
      toast(t('console.error.generic'), 'error');
    }
  }
}
