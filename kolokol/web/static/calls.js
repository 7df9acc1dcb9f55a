// Live calls as the feed and /api/live describe them, keyed by call id; only newer messages apply.

import { get } from './api.js';
import { newerId } from './format.js';
import { t } from './i18n.js';

const TOMBSTONES = 300;

/**
 * @typedef {{call: any, card: any, messageId: string|null, type: string}} CallEntry
 * @typedef {(entry: CallEntry, previous: CallEntry|null) => void} CallListener
 */
export class CallStore {
  constructor() {
    /** @type {Map<string, CallEntry>} */
    this.calls = new Map();
    /** ended calls' last message ids: a replayed older message must not bring a call back */
    this.ended = new Map();
    /** @type {CallListener[]} */
    this.listeners = [];
    this.cardsTimer = 0;
  }

  /** @param {CallListener} listener */
  subscribe(listener) {
    this.listeners.push(listener);
  }

  emit(entry, previous) {
    for (const listener of this.listeners) listener(entry, previous);
  }

  heldId(callId) {
    const held = this.calls.get(callId);
    return held ? held.messageId : this.ended.get(callId) || null;
  }

  /** A call.* message from the feed. Returns true when it changed something. */
  apply(message) {
    const incoming = message.call;
    if (!incoming || !incoming.id) return false;
    const heldId = this.heldId(incoming.id);
    if (heldId && !newerId(message.id, heldId)) return false;
    const changed = this.put(incoming, message.card, message.id, message.type);
    const held = this.calls.get(incoming.id);
    // No card anywhere: nobody was watching when it rang (this page was reconnecting). The snapshot
    // builds it on request.
    if (held && !held.card) this.fetchCards();
    return changed;
  }

  fetchCards() {
    if (this.cardsTimer) return;
    this.cardsTimer = setTimeout(async () => {
      this.cardsTimer = 0;
      try {
        this.snapshot(await get('/api/live'));
      } catch {
        // the call's next message, or a resync, brings it
      }
    }, 200);
  }

  put(incoming, card, messageId, type) {
    const previous = this.calls.get(incoming.id) || null;
    const call = { ...(previous ? previous.call : {}), ...incoming };
    if (type === 'call.ended') call.state = 'ended';
    const entry = { call, card: card || (previous ? previous.card : null), messageId, type };
    if (call.state === 'ended') {
      this.calls.delete(call.id);
      this.ended.set(call.id, messageId);
      if (this.ended.size > TOMBSTONES) this.ended.delete(this.ended.keys().next().value);
    } else {
      this.calls.set(call.id, entry);
    }
    this.emit(entry, previous);
    return true;
  }

  /**
   * Merge /api/live: its calls are current as of last_id. A held call missing from it has ended, but
   * how is unknown (its end came while the page was away, or kolokol restarted): it leaves as
   * `call.vanished`, with `call.vanished` set, and nobody calls it missed (the call log will tell).
   */
  snapshot(live) {
    const present = new Set();
    for (const item of live.calls || []) {
      present.add(item.call.id);
      const heldId = this.heldId(item.call.id);
      if (heldId && !newerId(item.message_id, heldId)) {
        const held = this.calls.get(item.call.id);
        // Not newer, but it has the card the feed's message lacked.
        if (held && !held.card && item.card) this.put(held.call, item.card, held.messageId, 'snapshot');
        continue;
      }
      this.put(item.call, item.card, item.message_id, 'snapshot');
    }
    for (const [id, entry] of [...this.calls]) {
      if (present.has(id) || newerId(entry.messageId, live.last_id)) continue;
      this.put({ ...entry.call, state: 'ended', vanished: true }, null, live.last_id, 'call.vanished');
    }
  }

  list() {
    return [...this.calls.values()];
  }
}

/** Who the caller is, in one line: the contact(s), the PBX's caller name, or the number. */
export function callerLabel(entry) {
  const card = entry.card;
  const contacts = card && Array.isArray(card.contacts) ? card.contacts : [];
  if (contacts.length === 1) return contacts[0].name;
  if (contacts.length > 1) return contacts.map((c) => c.name).join(', ');
  if (entry.call.caller_name && entry.call.direction === 'inbound') return entry.call.caller_name;
  return numberLabel(entry);
}

export function numberLabel(entry) {
  const card = entry.card;
  const call = entry.call;
  const number = (card && card.number) || call.number;
  if (number) return (card && card.number_display) || displayNumber(number);
  // No outside number: an internal call (the other phone's extension) or a withheld number.
  const party = call.direction === 'outbound' ? call.called : call.caller;
  if (call.direction === 'internal' && /^\d{2,8}$/.test(party || '')) return t('console.card.internal', { ext: party });
  return t('console.card.hidden_number');
}

function displayNumber(number) {
  const ru = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(number);
  return ru ? `+7 ${ru[1]} ${ru[2]}-${ru[3]}-${ru[4]}` : number;
}

/** The clinic line the call came in on: its name and branch, or its number. */
export function lineLabel(entry) {
  const line = entry.card && entry.card.line;
  if (line) {
    const parts = [line.name, line.branch].filter(Boolean);
    if (parts.length) return parts.join(' · ');
    if (line.number_display) return line.number_display;
  }
  const call = entry.call;
  return call.direction === 'inbound' && call.called ? displayNumber(call.called) : '';
}

export const intersects = (list, set) => Array.isArray(list) && list.some((x) => set.has(x));
