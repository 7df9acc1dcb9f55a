// The operator console: caller cards for my phones, recent calls, the callback list.

import { get } from './api.js';
import { CallCard, cardMode } from './card.js';
import { CallStore, callerLabel, lineLabel, numberLabel } from './calls.js';
import { announce, everySecond, setupSound, showConnection, showSessionEnded, storageKey, untilLoaded } from './common.js';
import { contactDialog } from './contact.js';
import { onDirectoryChange, personAt, setDirectory } from './directory.js';
import { clear, h, icon } from './dom.js';
import { Feed } from './feed.js';
import { duration, parseTime, timeOfDay } from './format.js';
import { t } from './i18n.js';
import { callBack, canCallBack, mountExtensionPicker, onCallBackChange, originateFailed, setClickToCall } from './originate.js';
import { myExtensions, page, user } from './page.js';
import * as sound from './sound.js';
import { TaskList, TaskStore } from './tasks.js';
import { toast } from './toast.js';

const RECENT_MAX = 6;
const ANSWERED_ELSEWHERE_MS = 2500;
// My phone stopped ringing but nobody answered: the caller is hanging up (the end follows at once) or
// waits for a queue's next attempt (the ring follows within seconds). Keep the card that long.
const STOPPED_RINGING_MS = 6000;
const RECENT_KEY = storageKey('recent');
// A call that left the feed without its end (a reconnect, a restart) is looked up in the call log; its
// record is stored a few seconds after the end, so ask again a little later each time, for a while.
const LOOKUP_DELAYS_MS = [1000, 3000, 10000, 30000, 60000, 120000, 300000];
const MODE_ORDER = { ringing: 0, paused: 1, dialing: 1, talking: 2, elsewhere: 3, ended: 4, other: 4 };

const calls = new CallStore();
const taskStore = new TaskStore();
const cardsBox = document.getElementById('cards');
const idle = document.getElementById('idle');
/** @type {Map<string, {view: CallCard, removeTimer: number, notification: Notification|null}>} */
const cards = new Map();
let ready = false;
// The feed is down: what the cards show may be over already.
let stale = false;

// -- cards -----------------------------------------------------------------------------------------

function onCallChange(entry) {
  const id = entry.call.id;
  const mode = cardMode(entry.call);
  const slot = cards.get(id);
  if (mode === 'ended') {
    if (slot) {
      const call = entry.call;
      // A call folded into another one (a pickup, a transfer) lives on there; one someone else took
      // was not mine. Both stay out of "recent".
      const elsewhere = slot.view.mode === 'elsewhere' || (call.answered_by && !myExtensions.has(call.answered_by) && !slot.view.talked);
      if (!call.merged_into && !elsewhere) remember(entry, slot.view);
      finish(slot, 'ended');
    } else {
      // Left earlier (I hung up first, or transferred it): the recent entry gets the final times.
      refreshRecent(entry);
    }
  } else if (mode === 'other') {
    if (slot) {
      const call = entry.call;
      const other = call.answered_by && !myExtensions.has(call.answered_by) ? call.answered_by : (call.talking || [])[0];
      const rang = slot.view.mode === 'ringing' || slot.view.mode === 'paused';
      if (other && rang) {
        slot.view.update(entry, 'elsewhere');
        slot.view.setMode('elsewhere', other);
        clearTimeout(slot.removeTimer);
        slot.removeTimer = setTimeout(() => finish(slot, 'other'), ANSWERED_ELSEWHERE_MS);
      } else if (rang) {
        slot.view.update(entry, 'paused');
        closeNotification(slot);
        clearTimeout(slot.removeTimer);
        slot.removeTimer = setTimeout(() => finish(slot, 'other'), STOPPED_RINGING_MS);
      } else {
        // I was on this call and have left it (hung up first, transferred it, my outbound call
        // ended on my side): it is one of my recent calls even before its last leg hangs up.
        if (slot.view.talked || slot.view.mode === 'dialing') remember(entry, slot.view);
        finish(slot, 'other');
      }
    }
  } else if (!slot) {
    const view = new CallCard(entry, { onContactCreated: contactCreated, onFormClosed: formClosed });
    view.setStale(stale);
    const created = { view, removeTimer: 0, notification: null };
    cards.set(id, created);
    view.el.classList.add('is-entering');
    view.el.addEventListener('animationend', () => view.el.classList.remove('is-entering'), { once: true });
    if (mode === 'ringing' && ready) {
      created.notification = desktopNotification(entry);
      announce(`${t('console.card.ringing')}: ${callerLabel(entry)}`);
    }
  } else {
    clearTimeout(slot.removeTimer);
    slot.removeTimer = 0;
    slot.view.el.classList.remove('is-leaving');
    slot.view.update(entry, mode);
    if (mode !== 'ringing') closeNotification(slot);
  }
  layoutCards();
}

/** A card leaves: at once, or when the operator is done with its contact form. */
function finish(slot, mode) {
  closeNotification(slot);
  if (slot.view.holdsInput()) {
    slot.view.setMode('ended');
    layoutCards();
    return;
  }
  cards.delete(slot.view.callId);
  const el = slot.view.el;
  el.classList.add('is-leaving');
  setTimeout(() => {
    el.remove();
    layoutCards();
  }, 250);
  layoutCards();
}

function formClosed(callId) {
  const slot = cards.get(callId);
  if (slot && (slot.view.mode === 'ended' || slot.view.mode === 'other')) finish(slot, 'ended');
}

function contactCreated(callId, contact, number) {
  const slot = cards.get(callId);
  const held = calls.calls.get(callId);
  // The patient's callback task shows the name at once (the feed re-announces it to everyone else).
  if (number) taskStore.named(number, contact);
  if (held) held.card = { ...(held.card || {}), contacts: [contact], first_time_caller: held.card ? held.card.first_time_caller : false };
  if (slot) slot.view.withContact(contact);
  updateRecentContact(callId, contact);
  toast(t('console.contact.created', { name: contact.name }), 'ok');
}

function layoutCards() {
  const active = [...cards.values()].sort((a, b) => {
    const rank = MODE_ORDER[a.view.mode] - MODE_ORDER[b.view.mode];
    return rank || (parseTime(a.view.entry.call.started_at) ?? 0) - (parseTime(b.view.entry.call.started_at) ?? 0);
  });
  let previous = null;
  for (const slot of active) {
    const el = slot.view.el;
    const expected = previous ? previous.nextElementSibling : cardsBox.firstElementChild;
    if (expected !== el) {
      if (previous) previous.after(el);
      else cardsBox.prepend(el);
    }
    previous = el;
  }
  idle.hidden = cards.size > 0;
  cardsBox.dataset.count = String(cards.size);
  const ringingNow = active.some((slot) => slot.view.mode === 'ringing');
  sound.setRinging(ringingNow);
  document.body.dataset.ringing = String(ringingNow);
  updateTitle();
}

// -- desktop notifications and the tab title ---------------------------------------------------------

function desktopNotification(entry) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return null;
  if (!document.hidden && document.hasFocus()) return null;
  try {
    const line = lineLabel(entry);
    const notification = new Notification(t('console.notify.title', { who: callerLabel(entry) }), {
      body: [numberLabel(entry), line].filter((part) => part && part !== callerLabel(entry)).join(' · '),
      tag: `call-${entry.call.id}`,
      icon: '/static/favicon.svg',
      silent: true,
      requireInteraction: true,
    });
    notification.addEventListener('click', () => {
      window.focus();
      notification.close();
    });
    return notification;
  } catch {
    return null;
  }
}

function closeNotification(slot) {
  if (slot.notification) slot.notification.close();
  slot.notification = null;
}

let openTasks = 0;
document.addEventListener('kolokol:tasks', (event) => {
  openTasks = event.detail.open;
  updateTitle();
});

function updateTitle() {
  const ringing = [...cards.values()].find((slot) => slot.view.mode === 'ringing');
  const base = `${t('console.title')} — ${t('common.product')}`;
  if (ringing) document.title = `☎ ${callerLabel(ringing.view.entry)} — ${t('console.card.ringing')}`;
  else document.title = openTasks ? `(${openTasks}) ${base}` : base;
}

// -- recent calls --------------------------------------------------------------------------------------

let recent = loadRecent();

function loadRecent() {
  try {
    const items = JSON.parse(sessionStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(items) ? items.slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

function saveRecent() {
  try {
    sessionStorage.setItem(RECENT_KEY, JSON.stringify(recent));
  } catch {
    // storage full or disabled: the strip still works for this page
  }
}

function remember(entry, view) {
  const item = { call: entry.call, card: view.entry.card || entry.card, talked: Boolean(view.talked) };
  // Its end never reached this page: how it went is the call log's to say, not a guess.
  if (entry.call.vanished) item.pending = true;
  recent = [item, ...recent.filter((old) => old.call.id !== entry.call.id)].slice(0, RECENT_MAX);
  saveRecent();
  renderRecent();
  if (item.pending) lookUp(item.call.id, 0);
}

function refreshRecent(entry) {
  const item = recent.find((old) => old.call.id === entry.call.id);
  if (!item) return;
  item.call = entry.call;
  if (entry.call.vanished && !item.record) {
    item.pending = true;
    lookUp(item.call.id, 0);
  }
  saveRecent();
  renderRecent();
}

const lookups = new Set();

/** Ask the call log how a call that vanished from the feed went; correct the recent strip with it. */
function lookUp(callId, attempt) {
  if (lookups.has(callId)) return;
  lookups.add(callId);
  setTimeout(async () => {
    lookups.delete(callId);
    const item = recent.find((old) => old.call.id === callId);
    if (!item || !item.pending) return;
    let record = null;
    try {
      const found = await get(`/api/calls?pbx_call_id=${encodeURIComponent(item.call.pbx_call_id)}&limit=10`);
      record = (found.items || []).find((r) => r.pbx === item.call.pbx) || null;
    } catch {
      // offline: the next attempt asks again
    }
    if (record) settle(item, record);
    else if (attempt + 1 < LOOKUP_DELAYS_MS.length) lookUp(callId, attempt + 1);
  }, LOOKUP_DELAYS_MS[Math.min(attempt, LOOKUP_DELAYS_MS.length - 1)]);
}

function settle(item, record) {
  item.pending = false;
  item.record = {
    status: record.status,
    direction: record.direction,
    answered_by: record.answered_by,
    operator: record.operator,
    talk_seconds: record.talk_seconds,
  };
  // Someone else took it and I was never on it: like a call answered elsewhere, not one of mine.
  const mine = item.talked || (record.direction !== 'inbound' ? myExtensions.has(record.operator) : myExtensions.has(record.answered_by));
  if (record.status === 'answered' && !mine) recent = recent.filter((old) => old !== item);
  saveRecent();
  renderRecent();
}

function updateRecentContact(callId, contact) {
  for (const item of recent) {
    if (item.call.id === callId) item.card = { ...(item.card || {}), contacts: [contact] };
  }
  saveRecent();
  renderRecent();
}

function renderRecent() {
  const section = document.getElementById('recent');
  const list = document.getElementById('recent-list');
  clear(list);
  section.hidden = recent.length === 0;
  for (const item of recent) {
    const call = item.call;
    const contacts = item.card && Array.isArray(item.card.contacts) ? item.card.contacts : [];
    const number = (item.card && item.card.number) || call.number;
    const { answered, outcome } = recentOutcome(item);
    const kind = call.direction === 'outbound' ? 'phone-out' : answered || item.pending ? 'phone-in' : 'phone-missed';
    const display = numberLabel(item);
    list.append(
      h(
        'li',
        { class: `recent-item${answered || item.pending ? '' : ' is-missed'}`, dataset: { callId: call.id, outcome: item.pending ? 'unknown' : answered ? 'answered' : 'unanswered' } },
        h('span', { class: 'recent-kind' }, icon(kind)),
        h('span', { class: 'recent-text' }, h('a', { class: 'recent-who', href: `/calls/${encodeURIComponent(call.id)}`, title: t('console.recent.open') }, callerLabel(item)), h('span', { class: 'recent-meta' }, [timeOfDay(call.started_at), outcome].filter(Boolean).join(' · '))),
        h(
          'span',
          { class: 'recent-actions' },
          !contacts.length && number
            ? h('button', { type: 'button', class: 'button-icon', title: t('console.card.create_contact'), 'aria-label': `${t('console.card.create_contact')}: ${display}`, onclick: () => contactDialog(number, display, (contact) => contactCreated(call.id, contact, number)) }, icon('user-plus'))
            : null,
          number && canCallBack()
            ? h('button', { type: 'button', class: 'button-icon button-call', title: t('console.tasks.call_back'), 'aria-label': `${t('console.tasks.call_back')}: ${callerLabel(item)}`, onclick: () => callBack(number, display) }, icon('phone'))
            : null,
        ),
      ),
    );
  }
}

/** How a recent call went: from its record when the page had to ask, else from its last live state. */
function recentOutcome(item) {
  const call = item.call;
  if (item.pending) return { answered: false, outcome: t('console.recent.ended') };
  const record = item.record;
  const answered = record ? record.status === 'answered' : Boolean(call.answered_at || call.answered_by);
  let talk = 0;
  if (record) talk = record.talk_seconds || 0;
  else if (answered && call.ended_at) talk = Math.max(0, ((parseTime(call.ended_at) ?? 0) - (parseTime(call.answered_at) ?? 0)) / 1000);
  if (!answered) return { answered, outcome: call.direction === 'outbound' ? t('console.recent.unanswered') : t('console.recent.missed') };
  const parts = [t('console.recent.talked', { duration: duration(talk) })];
  const other = record ? record.operator : call.operator;
  if (call.direction === 'inbound' && other && !myExtensions.has(other)) parts.push(t('console.recent.answered_by', { who: personAt(other) }));
  return { answered, outcome: parts.join(', ') };
}

// -- start -----------------------------------------------------------------------------------------------

async function reload() {
  const live = await get('/api/live');
  setDirectory(live.extensions);
  setClickToCall(live.click_to_call);
  calls.snapshot(live);
  await taskStore.reload();
  return live.last_id || null;
}

function onMessage(message) {
  if (message.type && message.type.startsWith('call.')) {
    calls.apply(message);
  } else if (message.type === 'task.created' || message.type === 'task.updated') {
    const change = taskStore.apply(message.task);
    if (change === 'created' && message.type === 'task.created' && ready) {
      sound.chime();
      taskList.flash(message.task.id);
    }
  } else if (message.type === 'originate.failed' && ready) {
    originateFailed(message);
  }
}

calls.subscribe(onCallChange);
const taskList = new TaskList(document.getElementById('tasks'), {
  store: taskStore,
  canCallBack,
  onCallBackChange,
  canComplete: true,
  onCallBack: (task) => callBack(task.number, task.number_display || task.number),
});

onCallBackChange(() => renderRecent());
onDirectoryChange(() => renderRecent());

/** The feed's state: while the page cannot follow calls, its cards stop counting and say so. */
function onStatus(status) {
  showConnection(status);
  stale = status === 'reconnecting' || status === 'offline';
  for (const slot of cards.values()) slot.view.setStale(stale);
}

setupSound();
mountExtensionPicker(document.getElementById('me-ext'));
for (const item of recent) if (item.pending) lookUp(item.call.id, 0);
document.getElementById('no-extension').hidden = user.extensions.length > 0;
renderRecent();
layoutCards();
everySecond(() => {
  for (const slot of cards.values()) slot.view.tick();
});

const subscription = user.extensions.length ? { extensions: user.extensions } : page.user.supervises ? { all: true } : null;
const lastId = await untilLoaded(reload);
ready = true;
if (subscription) {
  const feed = new Feed({
    subscription,
    onMessage,
    onStatus,
    onResync: reload,
    onSessionEnded: showSessionEnded,
  });
  feed.start(lastId);
} else {
  // No phone, no feed: keep the callback list fresh by asking now and then.
  showConnection('live');
  setInterval(() => taskStore.reload().catch(() => showConnection('offline')), 30000);
}

