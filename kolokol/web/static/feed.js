// The live feed (docs/feed.md): token, connect, subscribe, resume; reconnect with backoff; resync.

import { ApiError, post } from './api.js';
import { newerId } from './format.js';

const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;
const MAX_BACKOFF_MS = 30000;
// Failed attempts in a row before the indicator says "offline" rather than "reconnecting".
const OFFLINE_AFTER = 3;

/**
 * @typedef {'connecting'|'live'|'reconnecting'|'offline'|'ended'} FeedStatus
 * @typedef {{
 *   subscription: object,
 *   onMessage: (message: any) => void,
 *   onStatus: (status: FeedStatus) => void,
 *   onResync: () => Promise<string|null>,
 *   onSessionEnded: () => void,
 * }} FeedOptions
 */
export class Feed {
  /** @param {FeedOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {string|null} the newest message id handled: where to resume */
    this.lastId = null;
    this.socket = null;
    this.attempts = 0;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.lastHeard = 0;
    this.stopped = false;
    this.status = null;
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => this.setStatus('offline'));
    // "Reconnect now" on the no-connection banner.
    window.addEventListener('kolokol:reconnect', () => this.reconnectNow());
  }

  /** @param {string|null} lastId the snapshot's last_id: messages after it are replayed */
  start(lastId) {
    this.advance(lastId);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000, 'bye');
  }

  advance(id) {
    if (id && newerId(id, this.lastId)) this.lastId = id;
  }

  setStatus(status) {
    if (this.status === 'ended' || this.status === status) return;
    this.status = status;
    this.options.onStatus(status);
  }

  reconnectNow() {
    if (this.stopped || this.status === 'ended' || this.status === 'live') return;
    clearTimeout(this.retryTimer);
    this.attempts = 0;
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    this.setStatus(this.attempts === 0 && this.status === null ? 'connecting' : this.status === 'offline' ? 'offline' : 'reconnecting');
    let grant;
    try {
      grant = await post('/api/feed/token', {});
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return this.end();
      return this.retry();
    }
    if (this.stopped) return;
    let socket;
    try {
      socket = new WebSocket(grant.url);
    } catch {
      return this.retry();
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.lastHeard = Date.now();
      socket.send(JSON.stringify({ type: 'subscribe', ...this.options.subscription }));
    });
    socket.addEventListener('message', (event) => this.receive(socket, event.data));
    socket.addEventListener('close', (event) => this.closed(socket, event.code));
  }

  receive(socket, data) {
    if (socket !== this.socket) return;
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message.type) {
      case 'subscribed':
        if (this.lastId) socket.send(JSON.stringify({ type: 'resume', after: this.lastId }));
        else this.advance(message.last_id);
        this.attempts = 0;
        this.setStatus('live');
        this.startPinging(socket);
        return;
      case 'pong':
        return;
      case 'resync':
        this.resync(socket);
        return;
      default:
        // Replays and duplicates go through too: the stores keep only what is newer than they hold.
        this.options.onMessage(message);
        this.advance(message.id);
    }
  }

  async resync(socket) {
    try {
      const lastId = await this.options.onResync();
      this.advance(lastId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return this.end();
      // Reload failed: drop the connection; the next resume asks for a resync again.
      if (socket === this.socket) socket.close(4000, 'reload failed');
    }
  }

  startPinging(socket) {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastHeard > PING_EVERY_MS + PONG_WITHIN_MS) {
        // Nothing heard, not even a pong: the connection is dead even if the browser has not noticed.
        socket.close(4000, 'no pong');
        this.closed(socket, 4000);
        return;
      }
      socket.send('{"type":"ping"}');
    }, PING_EVERY_MS);
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    // 4440: the login that the token names has ended (logout, disabled, password changed).
    if (code === 4401 || code === 4403 || code === 4440) return this.end();
    if ((code === 4408 || code === 4409) && this.attempts < OFFLINE_AFTER) {
      // The token expired before the connect (4408), or the user's role or phones changed (4409): a
      // fresh token, right away (a few times, then back off).
      this.attempts += 1;
      this.connect();
      return;
    }
    this.retry();
  }

  retry() {
    if (this.stopped) return;
    this.attempts += 1;
    this.setStatus(this.attempts >= OFFLINE_AFTER || !navigator.onLine ? 'offline' : 'reconnecting');
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.attempts - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  end() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000, 'session ended');
    this.setStatus('ended');
    this.options.onSessionEnded();
  }
}
