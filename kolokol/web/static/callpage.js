// A call's page: who called and how it went, its recording (the player) or why there is none yet, what
// the recording tells without listening (silence, who talked how long, talking over each other), the
// caller's contacts, the call's history (who rang, who answered, transfers) and the number's other calls.

import { ApiError } from './api.js';
import { showSessionEnded } from './common.js';
import { personAt, peopleOn, setDirectory } from './directory.js';
import { h, icon } from './dom.js';
import { calendarDate, duration, phone } from './format.js';
import { t } from './i18n.js';
import { page, user } from './page.js';
import { mountPlayer } from './player.js';
import { clockTime, directionCell, errorBox, get, handledBy, moment, outsideNumber, partyLabel, recordingState, sourceLabel, statusBadge, talk, withQuery } from './calllog_format.js';

const OTHER_CALLS = 20;
const CONTACT_FIELDS = ['patient_status', 'next_visit', 'last_visit', 'doctor', 'curator', 'branch', 'birth_date', 'email'];
const DATE_FIELDS = new Set(['next_visit', 'last_visit', 'birth_date']);

function panel(id, title, ...children) {
  return h('section', { class: 'panel cp-panel', id, 'aria-labelledby': `${id}-title` }, h('h2', { class: 'section-title', id: `${id}-title` }, title), h('div', { class: 'cp-body' }, children));
}

function facts(pairs) {
  return h('dl', { class: 'cp-facts' }, pairs.filter(([, value]) => value !== null && value !== undefined && value !== '').map(([label, value]) => h('div', { class: 'cp-fact' }, h('dt', {}, label), h('dd', {}, value))));
}

function summary(call) {
  const number = outsideNumber(call);
  const title = partyLabel(call);
  return h(
    'section',
    { class: 'panel cp-summary', id: 'summary', 'aria-labelledby': 'call-title' },
    h('div', { class: 'cp-heading' }, directionCell(call), h('h1', { class: 'cp-title', id: 'call-title' }, title), statusBadge(call), call.first_time_caller ? h('span', { class: 'badge badge-new' }, t('console.card.first_time')) : null),
    facts([
      [t('call.when'), moment(call.started_at)],
      [t('call.direction'), t(`calls.direction.${call.direction}`)],
      [t('call.number'), number && title !== phone(number) ? phone(number) : null],
      [t('call.line'), call.direction === 'inbound' ? phone(call.called) : null],
      [t('call.branch'), call.branch],
      [t('call.handled_by'), handledBy(call) || null],
      [t('call.wait'), duration(call.wait_seconds)],
      [t('call.talk'), talk(call)],
      [t('call.source'), sourceLabel(call) || null],
    ]),
  ); // prettier-ignore
}

/** What became of the recording, when it cannot be played. */
function recordingNote(call) {
  const recording = call.recording;
  const state = recordingState(call);
  if (!state) return h('p', { class: 'cp-note', id: 'recording-state', dataset: { state: 'none' } }, t('call.recording.none'));
  const text = {
    pending: t('call.recording.pending'),
    failed: recording.failure ? t('call.recording.failed_because', { reason: recording.failure }) : t('call.recording.failed'),
    purged: t('call.recording.purged'),
  }[state];
  return h('p', { class: `cp-note cp-note-${state}`, id: 'recording-state', dataset: { state } }, icon(state === 'pending' ? 'history' : 'info'), h('span', {}, text || t('call.recording.none')));
}

function percent(share) {
  return `${Math.round(Number(share) * 100)}%`;
}

/** The figures in sentences a manager reads; null when the recording has none. */
function figureLines(figures) {
  if (!figures) return null;
  const lines = [];
  if (typeof figures.silence_share === 'number') {
    lines.push(t('call.figures.silence', { share: percent(figures.silence_share), longest: duration(figures.longest_silence_seconds || 0) }));
  }
  const sides = figures.talk_seconds;
  if (sides && typeof sides.caller === 'number' && typeof sides.clinic === 'number') {
    lines.push(t('call.figures.talk', { caller: duration(sides.caller), clinic: duration(sides.clinic) }));
    const all = sides.caller + sides.clinic;
    if (all > 0) lines.push(t('call.figures.talk_share', { clinic: percent(sides.clinic / all) }));
    if (typeof figures.overlap_seconds === 'number') {
      lines.push(figures.overlap_seconds >= 1 ? t('call.figures.overlap', { overlap: duration(figures.overlap_seconds) }) : t('call.figures.no_overlap'));
    }
  } else {
    lines.push(t('call.figures.one_channel'));
  }
  return h('ul', { class: 'cp-figures', id: 'figures-list' }, lines.map((line) => h('li', {}, line)));
}

function contactsPanel(call) {
  const contacts = call.contacts || [];
  if (!contacts.length) {
    const note = call.direction === 'internal' ? t('call.contacts.internal') : t('call.contacts.none');
    return panel('contacts', t('call.contacts'), h('p', { class: 'cp-note' }, note));
  }
  return panel(
    'contacts',
    t('call.contacts'),
    h('ul', { class: 'cp-contacts' }, contacts.map((contact) =>
      h('li', { class: 'cp-contact' },
        h('p', { class: 'cp-contact-name' }, contact.name || ''),
        facts([
          [t('call.contact.phones'), (contact.phones || []).map(phone).join(', ') || null],
          ...CONTACT_FIELDS.map((key) => [t(`console.contact.${key}`), contact[key] == null ? null : DATE_FIELDS.has(key) ? calendarDate(contact[key]) : String(contact[key])]),
        ]),
        typeof contact.note === 'string' && contact.note ? h('p', { class: 'cp-contact-note' }, contact.note) : null,
      ),
    )),
  ); // prettier-ignore
}

function historyItems(call) {
  const items = [];
  const add = (at, text, kind) => items.push({ at, text, kind });
  if (call.direction === 'inbound') add(call.started_at, t('call.history.inbound', { line: phone(call.called) }), 'start');
  else if (call.direction === 'outbound') add(call.started_at, t('call.history.outbound', { who: personAt(call.caller) || call.caller, number: phone(call.called) }), 'start');
  else add(call.started_at, t('call.history.internal', { from: personAt(call.caller), to: personAt(call.called) }), 'start');
  if (call.rang && call.rang.length) add(null, t('call.history.rang', { who: peopleOn(call.rang) }), 'rang');
  if (call.answered_at) add(call.answered_at, t('call.history.answered', { who: personAt(call.answered_by || call.operator) || '—', wait: duration(call.wait_seconds) }), 'answered');
  for (const transfer of call.transfers || []) {
    const key = transfer.kind === 'attended' ? 'call.history.transfer_attended' : 'call.history.transfer_blind';
    add(transfer.at, t(key, { from: personAt(transfer.from) || '—', to: personAt(transfer.to) || '—' }), 'transfer');
  }
  if (call.status === 'answered') add(call.ended_at, t('call.history.ended', { talk: duration(call.talk_seconds) }), 'end');
  else if (call.status === 'missed') add(call.ended_at, t(`call.history.missed.${call.missed_where || 'ringing'}`, { wait: duration(call.wait_seconds) }), 'missed');
  else add(call.ended_at, t('call.history.unanswered', { wait: duration(call.wait_seconds) }), 'missed');
  const task = call.callback_task;
  if (task) add(null, t(`call.history.task.${task.status === 'open' ? 'open' : 'closed'}`), 'task');
  return items;
}

function historyPanel(call) {
  return panel(
    'history',
    t('call.history'),
    h('ol', { class: 'cp-timeline', id: 'timeline' }, historyItems(call).map((item) =>
      h('li', { class: `cp-event cp-event-${item.kind}`, dataset: { kind: item.kind } }, h('span', { class: 'cp-event-time' }, item.at ? clockTime(item.at) : ''), h('span', { class: 'cp-event-text' }, item.text)),
    )),
  ); // prettier-ignore
}

function otherCallsPanel(call) {
  const number = outsideNumber(call);
  const body = h('div', { id: 'others-body' }, h('p', { class: 'cp-note' }, t('calls.loading')));
  const section = panel('others', number ? t('call.others', { number: phone(number) }) : t('call.others_none_title'), body);
  if (!number) {
    body.replaceChildren(h('p', { class: 'cp-note' }, t('call.others_no_number')));
    return section;
  }
  get(withQuery('/api/calls', { number, limit: OTHER_CALLS + 1 }))
    .then((data) => {
      const others = data.items.filter((item) => item.id !== call.id).slice(0, OTHER_CALLS);
      if (!others.length) {
        body.replaceChildren(h('p', { class: 'cp-note', id: 'others-empty' }, t('call.others_empty')));
        return;
      }
      const more = data.total - 1 > OTHER_CALLS;
      body.replaceChildren(
        h('table', { class: 'live-table cl-table', id: 'others-table' },
          h('tbody', {}, others.map((other) => {
            const state = recordingState(other);
            return h('tr', { dataset: { callId: other.id } },
              h('td', { class: 'cl-when' }, h('a', { href: `/calls/${encodeURIComponent(other.id)}` }, moment(other.started_at))),
              h('td', {}, directionCell(other)),
              h('td', {}, statusBadge(other)),
              h('td', { class: 'num' }, talk(other)),
              h('td', {}, handledBy(other)),
              h('td', {}, state ? t(`calls.recording.short.${state}`) : ''),
            );
          })),
        ),
        ...(more ? [h('p', { class: 'cp-note' }, h('a', { href: withQuery('/calls', { number, from: '2000-01-01' }) }, t('call.others_all', { n: data.total - 1 })))] : []),
      ); // prettier-ignore
    })
    .catch((error) => body.replaceChildren(errorBox(error)));
  return section;
}

/** May this user hear the call's recording (recordings.operators_listen for operators)? */
function mayListen(call) {
  const listen = (page.calllog && page.calllog.listen) || 'all';
  if (listen === 'all') return true;
  if (listen === 'none') return false;
  const phones = [call.operator, call.answered_by, ...(call.rang || [])];
  return phones.some((ext) => ext && user.extensions.includes(ext));
}

function recordingPanels(call) {
  const recording = call.recording;
  const playable = recording && recording.status === 'ready' && recording.url;
  let content;
  if (!playable) content = recordingNote(call);
  else if (!mayListen(call)) content = h('p', { class: 'cp-note', id: 'recording-state', dataset: { state: 'not-allowed' } }, icon('info'), h('span', {}, t('call.recording.not_allowed')));
  else content = mountPlayer(recording, get);
  const figures = playable ? figureLines(recording.figures) : null;
  return [panel('recording', t('call.recording'), content), figures ? panel('figures', t('call.figures'), figures) : null].filter(Boolean);
}

// A recording being prepared usually is ready within a minute of the call's end: the page looks again
// now and then, and shows the player when it is (or why it failed), without a reload.
const WATCH_EVERY_MS = 5000;
const WATCH_FOR_MS = 15 * 60 * 1000;

function watchRecording(call, slot) {
  const until = Date.now() + WATCH_FOR_MS;
  const look = async () => {
    if (Date.now() > until) return;
    let fresh = null;
    try {
      fresh = await get(`/api/calls/${encodeURIComponent(call.id)}`);
    } catch (error) {
      if (error && error.status === 401) return;
    }
    const state = fresh ? recordingState(fresh) : 'pending';
    if (fresh && state !== 'pending') {
      slot.replaceChildren(...recordingPanels(fresh));
      return;
    }
    setTimeout(look, WATCH_EVERY_MS);
  };
  setTimeout(look, WATCH_EVERY_MS);
}

function recordingSlot(call) {
  const slot = h('div', { class: 'cp-slot', id: 'recording-slot' }, recordingPanels(call));
  if (recordingState(call) === 'pending') watchRecording(call, slot);
  return slot;
}

const AUDIT_ROWS = 50;

/** Admins: who listened to, downloaded or linked the recording, when and from where (the access audit). */
function auditPanel(call) {
  const body = h('div', { id: 'audit-body' });
  const load = () => {
    get(withQuery('/api/recordings/access', { call: call.id, limit: AUDIT_ROWS }))
      .then((data) => {
        if (!data.items.length) {
          body.replaceChildren(h('p', { class: 'cp-note', id: 'audit-empty' }, t('call.audit.empty')));
          return;
        }
        body.replaceChildren(
          h('table', { class: 'live-table cl-table', id: 'audit-table' },
            h('thead', {}, h('tr', {}, ['when', 'who', 'action', 'address'].map((key) => h('th', { scope: 'col' }, t(`call.audit.col.${key}`))))),
            h('tbody', {}, data.items.map((item) =>
              h('tr', { dataset: { action: item.action } },
                h('td', { class: 'cl-when' }, moment(item.at)),
                h('td', {}, item.via === 'link' ? t('call.audit.by_link') : item.who),
                h('td', {}, t(`call.audit.action.${item.action}`) || item.action),
                h('td', { title: item.user_agent || '' }, item.address),
              ),
            )),
          ),
        ); // prettier-ignore
      })
      .catch((error) => body.replaceChildren(errorBox(error)));
  };
  load();
  const refresh = h('button', { type: 'button', class: 'button-ghost button-small', id: 'audit-refresh', onclick: load }, t('call.audit.refresh'));
  return panel('audit', t('call.audit'), body, h('p', { class: 'cp-actions' }, refresh));
}

/** The call by its record's id, or by the live call's "<pbx>:<pbx_call_id>" (the console links so). */
async function findCall(id) {
  const colon = id.indexOf(':');
  if (colon <= 0) return get(`/api/calls/${encodeURIComponent(id)}`);
  const found = await get(withQuery('/api/calls', { pbx: id.slice(0, colon), pbx_call_id: id.slice(colon + 1), limit: 1 }));
  if (!found.items.length) throw new ApiError(404, 'no-such-call', '');
  history.replaceState(null, '', `/calls/${encodeURIComponent(found.items[0].id)}`);
  return found.items[0];
}

async function start() {
  const root = document.getElementById('call');
  const back = document.getElementById('back');
  // Back to the list as it was filtered, when the list opened this page.
  if (document.referrer.startsWith(`${location.origin}/calls`) && history.length > 1) {
    back.addEventListener('click', (event) => {
      event.preventDefault();
      history.back();
    });
  }
  try {
    const live = await get('/api/live');
    setDirectory(live.extensions || []);
  } catch (error) {
    if (error && error.status === 401) {
      showSessionEnded();
      return;
    }
  }
  let call;
  try {
    call = await findCall(page.call_id || '');
  } catch (error) {
    if (error && error.status === 401) return;
    if (error && error.status === 404) {
      root.replaceChildren(h('section', { class: 'panel cp-missing', id: 'missing' }, h('h1', { class: 'cp-title' }, t('call.missing')), h('p', { class: 'cp-note' }, t('call.missing_hint'))));
      return;
    }
    root.replaceChildren(errorBox(error));
    return;
  }
  document.title = `${partyLabel(call)} — ${t('call.title')}`;
  root.replaceChildren(
    h('div', { class: 'cp-grid' },
      h('div', { class: 'cp-main' }, summary(call), recordingSlot(call), historyPanel(call)),
      h('div', { class: 'cp-side' }, contactsPanel(call), otherCallsPanel(call), user.role === 'admin' && call.recording && call.recording.id ? auditPanel(call) : null),
    ),
  ); // prettier-ignore
}

start();
