// The caller card: who is calling (big), which line, their history and open tasks, the contact(s),
// and what to do: open in the CRM, create a contact for an unknown number.

import { callerLabel, intersects, lineLabel, numberLabel } from './calls.js';
import { contactForm } from './contact.js';
import { clear, h, icon, setText } from './dom.js';
import { personAt } from './directory.js';
import { ageOn, calendarDate, duration, parseCalendarDate, secondsSince, when } from './format.js';
import { t, tn } from './i18n.js';
import { myExtensions } from './page.js';

// Contact fields the card shows in its own way, or not at all.
const HIDDEN_FIELDS = new Set(['id', 'external_id', 'name', 'phones', 'crm_url', 'notes']);
// The fields a clinic's export has (the CSV import's known columns), in the order a receptionist
// reads them, with their labels; `kind` date shows a date, birth adds the age.
const KNOWN_FIELDS = [
  ['patient_status', 'console.contact.patient_status', 'text'],
  ['next_visit', 'console.contact.next_visit', 'date'],
  ['last_visit', 'console.contact.last_visit', 'date'],
  ['birth_date', 'console.contact.birth_date', 'birth'],
  ['doctor', 'console.contact.doctor', 'text'],
  ['curator', 'console.contact.curator', 'text'],
  ['branch', 'console.contact.branch', 'text'],
  ['email', 'console.contact.email', 'text'],
];

/** A field's value as the card shows it: dates in one format (15.03.2026), a birth date with the age. */
export function fieldText(value, kind = 'text') {
  if (kind === 'birth') {
    const age = ageOn(value);
    return age === null ? calendarDate(value) : `${calendarDate(value)} (${tn('console.contact.age', age)})`;
  }
  // Any date, also in a column kolokol does not know, reads the same way.
  return parseCalendarDate(value) ? calendarDate(value) : String(value);
}

/**
 * ringing: one of my phones rings (inbound) · dialing: my outbound call is being placed ·
 * talking: one of my phones is connected · elsewhere: answered by someone else · ended
 */
export function cardMode(call) {
  if (call.state === 'ended') return 'ended';
  if (intersects(call.talking, myExtensions)) return 'talking';
  const ringsMine = intersects(call.ringing, myExtensions);
  if (call.state === 'dialing') return ringsMine || myExtensions.has(call.operator) ? 'dialing' : 'other';
  if (ringsMine) return call.direction === 'outbound' ? 'dialing' : 'ringing';
  return 'other';
}

// Below this confidence the card says "probable source" (calltracking's attribution scores every call).
const PROBABLE_BELOW = 0.6;
const CHANNELS = new Set(['paid', 'organic', 'referral', 'social', 'email', 'direct', 'offline', 'other']);

/**
 * Where the call came from, as the card shows it: the source and campaign, or the channel when the
 * visit named no source ("search", "direct visit"); nothing for a number kolokol does not track.
 */
export function sourceLabel(source) {
  if (!source || typeof source !== 'object' || source.kind === 'direct') return '';
  const named = [source.source, source.campaign].filter((part) => typeof part === 'string' && part).join(' · ');
  if (named) return named;
  return CHANNELS.has(source.channel) ? t(`channel.${source.channel}`) : '';
}

function safeUrl(url) {
  return typeof url === 'string' && /^https?:\/\//i.test(url) ? url : null;
}

/** «Анна Петрова» -> «АП»: the card's avatar. */
function initials(name) {
  const words = String(name || '').trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((word) => word.charAt(0).toUpperCase()).join('') || '?';
}

function humanKey(key) {
  const text = String(key).replace(/_/g, ' ').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export class CallCard {
  /**
   * @param {any} entry {call, card}
   * @param {{onContactCreated: (callId: string, contact: any, number: string) => void, onFormClosed: (callId: string) => void}} hooks
   */
  constructor(entry, hooks) {
    this.hooks = hooks;
    this.entry = entry;
    this.selected = 0;
    this.form = null;
    this.mode = null;
    this.band = h('span', { class: 'band-state' });
    this.bandLine = h('span', { class: 'band-line' });
    this.timer = h('span', { class: 'band-timer', role: 'timer' });
    this.avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
    this.name = h('h2', { class: 'caller-name' });
    this.number = h('p', { class: 'caller-number' });
    this.facts = h('div', { class: 'card-facts' });
    this.contacts = h('div', { class: 'card-contacts' });
    this.actions = h('div', { class: 'card-actions' });
    this.formSlot = h('div', { class: 'card-form' });
    this.el = h(
      'article',
      { class: 'card', dataset: { callId: entry.call.id }, tabindex: '-1' },
      h('header', { class: 'card-band' }, h('span', { class: 'band-dot', 'aria-hidden': 'true' }), this.band, this.bandLine, this.timer),
      h('div', { class: 'card-body' }, h('div', { class: 'card-identity' }, this.avatar, h('div', { class: 'identity-text' }, this.name, this.number, this.facts)), this.contacts, this.actions, this.formSlot),
    );
    this.update(entry);
  }

  get callId() {
    return this.entry.call.id;
  }

  /** Unsaved input in the create-contact form: keep the card open after the call ends. */
  holdsInput() {
    return Boolean(this.form && this.form.dirty());
  }

  update(entry, mode = cardMode(entry.call)) {
    const cardChanged = entry.card !== this.entry.card;
    this.entry = entry;
    this.setMode(mode);
    this.renderIdentity();
    if (cardChanged || !this.rendered) this.renderDetails();
    this.rendered = true;
    this.tick();
  }

  setMode(mode, detail) {
    this.mode = mode;
    this.modeDetail = detail;
    if (mode === 'talking') this.talked = true;
    this.el.dataset.mode = mode;
    const call = this.entry.call;
    const keys = {
      ringing: 'console.card.ringing',
      paused: 'console.card.paused',
      dialing: 'console.card.dialing',
      talking: 'console.card.talking',
      ended: 'console.card.ended',
      other: 'console.card.ended',
    };
    if (this.stale && mode !== 'ended' && mode !== 'other') setText(this.band, t('console.card.stale'));
    else if (mode === 'elsewhere') setText(this.band, t('console.card.answered_by', { who: personAt(detail || call.answered_by) }));
    else setText(this.band, t(keys[mode] || keys.other));
    const line = lineLabel(this.entry);
    const lineText = line ? t('console.card.line', { line }) : '';
    setText(this.bandLine, lineText);
    this.el.setAttribute('aria-label', `${this.band.textContent}: ${callerLabel(this.entry)}`);
  }

  /** The page cannot follow the call any more (no feed): no counting, and it says so, until it can. */
  setStale(stale) {
    if (this.stale === stale) return;
    this.stale = stale;
    this.el.dataset.stale = String(stale);
    this.setMode(this.mode, this.modeDetail);
    this.tick();
  }

  tick() {
    const call = this.entry.call;
    let seconds = null;
    if (this.stale) seconds = null;
    else if (this.mode === 'ringing' || this.mode === 'dialing') seconds = secondsSince(call.started_at);
    else if (this.mode === 'talking') seconds = secondsSince(call.answered_at || call.started_at);
    this.timer.hidden = seconds === null;
    if (seconds !== null) setText(this.timer, duration(seconds));
  }

  renderIdentity() {
    const entry = this.entry;
    const contacts = this.contactList();
    const label = contacts.length > 1 ? numberLabel(entry) : callerLabel(entry);
    setText(this.name, label);
    const number = numberLabel(entry);
    let sub = label === number ? '' : number;
    if (contacts.length > 1) sub = tn('console.card.contacts_on_number', contacts.length);
    else if (!contacts.length && entry.call.caller_name && label === entry.call.caller_name) sub = `${number} · ${t('console.card.pbx_name')}`;
    setText(this.number, sub);
    this.number.hidden = !sub;
    this.name.classList.toggle('is-number', label === number);
    this.renderAvatar(contacts);
  }

  renderAvatar(contacts) {
    const key = contacts.length === 1 ? `c:${contacts[0].name}` : `n:${contacts.length}`;
    if (this.avatarKey === key) return;
    this.avatarKey = key;
    this.avatar.dataset.kind = contacts.length ? 'known' : 'unknown';
    if (contacts.length === 1) this.avatar.replaceChildren(initials(contacts[0].name));
    else if (contacts.length > 1) this.avatar.replaceChildren(String(contacts.length));
    else this.avatar.replaceChildren(icon('phone'));
  }

  contactList() {
    const card = this.entry.card;
    return card && Array.isArray(card.contacts) ? card.contacts : [];
  }

  renderDetails() {
    const card = this.entry.card || {};
    const call = this.entry.call;
    clear(this.facts);
    // History: the first call ever, or how often and when last.
    if (card.first_time_caller) {
      this.facts.append(h('span', { class: 'badge badge-new' }, icon('sparkle'), t('console.card.first_time')));
    } else if (card.earlier_calls) {
      const parts = [tn('console.card.earlier_calls', card.earlier_calls)];
      const last = card.last_call;
      if (last && last.started_at) {
        const status = last.status === 'missed' ? t('console.card.last_missed') : last.status === 'answered' ? t('console.card.last_answered') : t('console.card.last_unanswered');
        const direction = last.direction === 'outbound' ? t('console.card.last_outbound') : '';
        const who = last.status === 'answered' && last.operator ? t('console.card.last_operator', { who: personAt(last.operator) }) : '';
        parts.push(t('console.card.last_call', { when: when(last.started_at), status: [direction, status, who].filter(Boolean).join(', ') }));
      }
      this.facts.append(h('span', { class: 'history' }, icon('history'), parts.join(', ')));
    }
    const tasks = Array.isArray(card.open_tasks) ? card.open_tasks.filter((task) => task.status === 'open') : [];
    if (tasks.length) {
      const missed = tasks.reduce((sum, task) => sum + (task.missed_calls || 1), 0);
      this.facts.append(h('span', { class: 'badge badge-task' }, icon('phone-missed'), tn('console.card.open_task', missed)));
    }
    const sourceText = sourceLabel(card.source);
    if (sourceText) {
      const probable = card.source.ambiguous || card.source.confidence < PROBABLE_BELOW;
      const badge = h('span', { class: 'badge badge-source' }, icon('target'), t(probable ? 'console.card.source_probable' : 'console.card.source', { source: sourceText }));
      if (Array.isArray(card.source.reasons)) badge.title = card.source.reasons.join(', ');
      this.facts.append(badge);
    }
    this.renderContacts();
    this.renderActions(call);
  }

  renderContacts() {
    clear(this.contacts);
    const contacts = this.contactList();
    if (!contacts.length) {
      this.contacts.hidden = true;
      return;
    }
    this.contacts.hidden = false;
    if (this.selected >= contacts.length) this.selected = 0;
    if (contacts.length > 1) {
      const tabs = h('div', { class: 'contact-tabs', role: 'tablist', 'aria-label': t('console.card.contacts_label') });
      contacts.forEach((contact, index) => {
        const selected = index === this.selected;
        const tab = h(
          'button',
          {
            type: 'button',
            role: 'tab',
            class: 'contact-tab',
            id: `tab-${this.callId}-${index}`,
            'aria-selected': String(selected),
            tabindex: selected ? '0' : '-1',
            onclick: () => this.select(index),
            onkeydown: (event) => this.tabKey(event, index, contacts.length),
          },
          h('span', { class: 'contact-tab-name' }, contact.name),
          contact.patient_status ? h('span', { class: 'contact-tab-status' }, contact.patient_status) : null,
        );
        tabs.append(tab);
      });
      this.contacts.append(tabs);
    }
    const contact = contacts[this.selected];
    const panel = h('div', { class: 'contact', role: contacts.length > 1 ? 'tabpanel' : null, 'aria-labelledby': contacts.length > 1 ? `tab-${this.callId}-${this.selected}` : null });
    if (contacts.length > 1) panel.append(h('p', { class: 'contact-name' }, contact.name));
    const list = h('dl', { class: 'contact-fields' });
    for (const [key, label, kind] of KNOWN_FIELDS) {
      const value = contact[key];
      if (value === undefined || value === null || value === '' || typeof value === 'object') continue;
      list.append(h('div', { class: `contact-field field-${key.replace(/_/g, '-')}` }, h('dt', {}, t(label)), h('dd', {}, fieldText(value, kind))));
    }
    const known = new Set(KNOWN_FIELDS.map(([key]) => key));
    for (const [key, value] of Object.entries(contact)) {
      if (known.has(key) || HIDDEN_FIELDS.has(key) || value === null || value === '' || typeof value === 'object') continue;
      list.append(h('div', { class: 'contact-field' }, h('dt', {}, humanKey(key)), h('dd', {}, fieldText(value))));
    }
    if (list.children.length) panel.append(list);
    if (contact.notes) panel.append(h('p', { class: 'contact-notes' }, icon('note'), h('span', {}, String(contact.notes))));
    if (!list.children.length && !contact.notes && contacts.length === 1) panel.append(h('p', { class: 'contact-empty' }, t('console.card.no_details')));
    this.contacts.append(panel);
  }

  tabKey(event, index, count) {
    let next = null;
    if (event.key === 'ArrowRight') next = (index + 1) % count;
    else if (event.key === 'ArrowLeft') next = (index - 1 + count) % count;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = count - 1;
    if (next === null) return;
    event.preventDefault();
    this.select(next);
    const tab = this.el.querySelector(`#tab-${CSS.escape(this.callId)}-${next}`);
    if (tab) tab.focus();
  }

  select(index) {
    this.selected = index;
    this.renderContacts();
    this.renderActions(this.entry.call);
  }

  renderActions(call) {
    clear(this.actions);
    const contacts = this.contactList();
    const contact = contacts[this.selected];
    const crm = contact ? safeUrl(contact.crm_url) : null;
    if (crm) {
      const label = contacts.length > 1 ? t('console.card.open_crm_named', { name: contact.name }) : t('console.card.open_crm');
      this.actions.append(h('a', { class: 'button-secondary', href: crm, target: '_blank', rel: 'noopener noreferrer' }, icon('external'), label));
    }
    const number = (this.entry.card && this.entry.card.number) || call.number;
    if (!contacts.length && number && !this.form) {
      this.actions.append(h('button', { type: 'button', class: 'button-secondary', onclick: () => this.openForm(number) }, icon('user-plus'), t('console.card.create_contact')));
    }
    this.actions.hidden = !this.actions.children.length;
  }

  openForm(number) {
    this.form = contactForm({
      number,
      onCreated: (contact) => {
        this.closeForm();
        this.hooks.onContactCreated(this.callId, contact, number);
      },
      onCancel: () => this.closeForm(),
    });
    this.formSlot.replaceChildren(this.form);
    this.renderActions(this.entry.call);
    this.form.focusFirst();
  }

  closeForm() {
    this.form = null;
    clear(this.formSlot);
    this.renderActions(this.entry.call);
    this.hooks.onFormClosed(this.callId);
  }

  /** The contact was created: show it as the card's contact. */
  withContact(contact) {
    const card = { ...(this.entry.card || {}), contacts: [contact] };
    this.update({ ...this.entry, card }, this.mode);
  }
}
