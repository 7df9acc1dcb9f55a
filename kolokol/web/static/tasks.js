// The callback list: open tasks, most overdue first, with minutes since the miss and SLA colours.

import { ApiError, get, post } from './api.js';
import { h, icon, setText } from './dom.js';
import { ago, parseTime, now, span, timeOfDay } from './format.js';
import { t, tn } from './i18n.js';
import { page, user } from './page.js';
import { toast } from './toast.js';

const FILTER_KEY = `kolokol.${user.username}.tasks.filter`;

/** calm | warn | late: amber `task_warning_minutes` before due, red once overdue. */
export function slaState(task, at = now()) {
  const due = parseTime(task.due_at);
  if (due === null) return 'calm';
  if (at >= due) return 'late';
  if (at >= due - page.console.task_warning_minutes * 60000) return 'warn';
  return 'calm';
}

export class TaskStore {
  constructor() {
    /** @type {Map<string, {task: any, seq: number}>} */
    this.tasks = new Map();
    /** tasks seen closed: a list fetched a moment earlier must not bring them back */
    this.closed = new Set();
    this.seq = 0;
    this.listeners = [];
  }

  subscribe(listener) {
    this.listeners.push(listener);
  }

  emit(change) {
    for (const listener of this.listeners) listener(change);
  }

  /** From the feed or an action's answer. Returns 'created' | 'updated' | 'closed' | null. */
  apply(task) {
    if (!task || !task.id) return null;
    this.seq += 1;
    if (task.status !== 'open') {
      this.closed.add(task.id);
      const had = this.tasks.delete(task.id);
      if (had) this.emit({ kind: 'closed', task });
      return had ? 'closed' : null;
    }
    if (this.closed.has(task.id)) return null;
    const existed = this.tasks.has(task.id);
    this.tasks.set(task.id, { task, seq: this.seq });
    this.emit({ kind: existed ? 'updated' : 'created', task });
    return existed ? 'updated' : 'created';
  }

  remove(taskId) {
    this.closed.add(taskId);
    if (this.tasks.delete(taskId)) this.emit({ kind: 'closed', task: { id: taskId } });
  }

  /** Load the open list; feed updates that arrived while it was in flight win. */
  async reload() {
    const startedAt = this.seq;
    const answer = await get('/api/tasks?status=open&limit=500');
    const next = new Map();
    for (const task of answer.items || []) {
      if (this.closed.has(task.id) || task.status !== 'open') continue;
      next.set(task.id, { task, seq: 0 });
    }
    for (const [id, held] of this.tasks) if (held.seq > startedAt) next.set(id, held);
    this.tasks = next;
    this.emit({ kind: 'reloaded' });
  }

  sorted() {
    return [...this.tasks.values()]
      .map((held) => held.task)
      .sort((a, b) => (parseTime(a.due_at) ?? 0) - (parseTime(b.due_at) ?? 0) || String(a.id).localeCompare(String(b.id)));
  }
}

function who(task) {
  const names = (task.contacts || []).map((c) => c.name).filter(Boolean);
  return names.length ? names.join(', ') : task.number_display || task.number;
}

/**
 * The list view. Rows are kept per task and updated in place, so a focused button keeps its focus.
 * @param {HTMLElement} container
 * @param {{store: TaskStore, canCallBack: boolean, canComplete: boolean, onCallBack: (task: any) => Promise<boolean>}} options
 */
export class TaskList {
  constructor(container, options) {
    this.options = options;
    this.store = options.store;
    this.rows = new Map();
    this.filter = localStorage.getItem(FILTER_KEY) === 'mine' ? 'mine' : 'all';
    this.count = h('span', { class: 'count', 'aria-live': 'polite' });
    this.lateCount = h('span', { class: 'count count-late', hidden: true });
    const filterButton = (value, label) =>
      h('button', { type: 'button', class: 'seg-button', dataset: { filter: value }, 'aria-pressed': String(this.filter === value), onclick: () => this.setFilter(value) }, label);
    this.filterButtons = [filterButton('all', t('console.tasks.filter_all')), filterButton('mine', t('console.tasks.filter_mine'))];
    const heading = container.querySelector('.section-title') || h('h2', { class: 'section-title' }, t('console.tasks.heading'));
    heading.append(' ', this.count, ' ', this.lateCount);
    this.list = h('ol', { class: 'task-list', 'aria-labelledby': heading.id || null });
    this.empty = h(
      'div',
      { class: 'tasks-empty' },
      icon('check-circle'),
      h('p', { class: 'tasks-empty-title' }),
      h('p', { class: 'tasks-empty-hint' }),
    );
    this.loading = h('p', { class: 'tasks-loading' }, t('console.tasks.loading'));
    container.replaceChildren(
      h('div', { class: 'tasks-head' }, heading, h('div', { class: 'seg', role: 'group', 'aria-label': t('console.tasks.filter_label') }, this.filterButtons)),
      h('div', { class: 'tasks-scroll' }, this.loading, this.list, this.empty),
    );
    this.empty.hidden = true;
    this.store.subscribe(() => this.render());
    setInterval(() => this.tick(), 15000);
  }

  setFilter(value) {
    this.filter = value;
    localStorage.setItem(FILTER_KEY, value);
    for (const button of this.filterButtons) button.setAttribute('aria-pressed', String(button.dataset.filter === value));
    this.render();
  }

  visible() {
    const all = this.store.sorted();
    return this.filter === 'mine' ? all.filter((task) => task.assignee === user.username) : all;
  }

  render() {
    this.loading.hidden = true;
    const tasks = this.visible();
    const wanted = new Set(tasks.map((task) => task.id));
    for (const [id, row] of this.rows) {
      if (!wanted.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    let previous = null;
    for (const task of tasks) {
      let row = this.rows.get(task.id);
      if (!row) {
        row = this.makeRow(task);
        this.rows.set(task.id, row);
      }
      row.task = task;
      this.fill(row);
      // Move only rows that are out of place (moving a row would drop the focus inside it).
      const expected = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== row.el) {
        if (previous) previous.after(row.el);
        else this.list.prepend(row.el);
      }
      previous = row.el;
    }
    this.renderCounts(tasks);
  }

  renderCounts(tasks) {
    const all = this.store.sorted();
    setText(this.count, String(all.length));
    this.count.setAttribute('aria-label', tn('console.tasks.count', all.length));
    const late = all.filter((task) => slaState(task) === 'late').length;
    this.lateCount.hidden = late === 0;
    setText(this.lateCount, t('console.tasks.late_count', { n: late }));
    this.empty.hidden = tasks.length > 0;
    const [title, hint] = this.empty.querySelectorAll('p');
    const onlyMine = this.filter === 'mine' && all.length > 0;
    setText(title, onlyMine ? t('console.tasks.empty_mine') : t('console.tasks.empty'));
    setText(hint, onlyMine ? t('console.tasks.empty_mine_hint') : t('console.tasks.empty_hint'));
    document.dispatchEvent(new CustomEvent('kolokol:tasks', { detail: { open: all.length, late } }));
  }

  /** Draw the eye to a new task for a few seconds. */
  flash(taskId) {
    const row = this.rows.get(taskId);
    if (!row) return;
    row.el.classList.add('is-new');
    setTimeout(() => row.el.classList.remove('is-new'), 4000);
  }

  tick() {
    for (const row of this.rows.values()) this.fill(row);
    this.renderCounts(this.visible());
  }

  makeRow(task) {
    const row = { task, busy: false };
    row.who = h('span', { class: 'task-who' });
    row.meta = h('span', { class: 'task-meta' });
    row.ago = h('span', { class: 'task-ago' });
    row.due = h('span', { class: 'task-due' });
    const button = (cls, iconName, label, handler) => h('button', { type: 'button', class: cls, onclick: () => this.act(row, handler) }, icon(iconName), h('span', {}, label));
    const actions = [];
    if (this.options.canCallBack) {
      row.callBack = button('button-primary button-small', 'phone', t('console.tasks.call_back'), () => this.callBack(row));
      actions.push(row.callBack);
    }
    row.assign = button('button-secondary button-small', 'user-check', t('console.tasks.assign'), () => this.assign(row));
    actions.push(row.assign);
    if (this.options.canComplete) {
      actions.push(
        button('button-secondary button-small', 'check', t('console.tasks.done'), () => this.complete(row, 'done')),
        button('button-secondary button-small', 'phone-off', t('console.tasks.unreachable'), () => this.complete(row, 'unreachable')),
      );
    }
    row.el = h(
      'li',
      { class: 'task', dataset: { taskId: task.id } },
      h('div', { class: 'task-sla', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'task-body' },
        h('div', { class: 'task-line' }, row.who, row.ago),
        h('div', { class: 'task-line task-sub' }, row.meta, row.due),
        h('div', { class: 'task-actions' }, actions),
      ),
    );
    return row;
  }

  fill(row) {
    const task = row.task;
    const state = slaState(task);
    row.el.dataset.sla = state;
    const name = who(task);
    setText(row.who, name);
    const display = task.number_display || task.number;
    const since = Math.max(0, Math.floor((now() - (parseTime(task.first_missed_at) ?? now())) / 1000));
    setText(row.ago, ago(since));
    const due = parseTime(task.due_at);
    if (due !== null && state === 'late') setText(row.due, t('console.tasks.overdue', { span: span((now() - due) / 60000) }));
    else setText(row.due, t('console.tasks.due', { time: timeOfDay(task.due_at) }));
    const parts = name === display ? [] : [display];
    parts.push(tn('console.tasks.missed', task.missed_calls || 1));
    if (task.missed_calls > 1 && task.last_missed_at) parts.push(t('console.tasks.last_missed', { time: timeOfDay(task.last_missed_at) }));
    if (task.assignee) parts.push(task.assignee === user.username ? t('console.tasks.assignee_me') : t('console.tasks.assignee', { name: task.assignee }));
    setText(row.meta, parts.join(' · '));
    row.el.classList.toggle('is-mine', task.assignee === user.username);
    row.assign.hidden = task.assignee === user.username;
    row.el.setAttribute('aria-label', `${name}, ${row.ago.textContent}, ${row.due.textContent}`);
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

  async complete(row, resolution) {
    const name = who(row.task);
    try {
      await post(`/api/tasks/${encodeURIComponent(row.task.id)}/complete`, { resolution });
      this.store.remove(row.task.id);
      toast(t(resolution === 'done' ? 'console.tasks.closed_done' : 'console.tasks.closed_unreachable', { who: name }), 'ok');
    } catch (error) {
      this.failed(row, error);
    }
  }

  failed(row, error) {
    if (error instanceof ApiError && error.slug === 'task-closed') {
      this.store.remove(row.task.id);
      toast(t('console.tasks.already_closed', { who: who(row.task) }), 'info');
    } else if (error instanceof ApiError && error.status === 404) {
      this.store.remove(row.task.id);
    } else if (error instanceof ApiError && error.slug === 'network') {
      toast(t('console.error.network'), 'error');
    } else if (!(error instanceof ApiError && error.status === 401)) {
      toast(t('console.error.generic'), 'error');
    }
  }
}
