// Sounds made with WebAudio (no files): a soft repeating ring and a short chime for a new task.
// Browsers allow audio only after a user gesture, so the page offers a one-time "enable" button and
// also unlocks on the first click or key press anywhere.

const MUTE_KEY = 'kolokol.sound';
const RING_EVERY_MS = 3200;

let context = null;
let ringTimer = 0;
let ringing = false;
const listeners = [];

export function muted() {
  return localStorage.getItem(MUTE_KEY) === 'off';
}

export function setMuted(value) {
  if (value) localStorage.setItem(MUTE_KEY, 'off');
  else localStorage.removeItem(MUTE_KEY);
  if (value) stopRing();
  else if (ringing) startRing();
  notify();
}

/** True once audio may play (the context runs). */
export function audioReady() {
  return context !== null && context.state === 'running';
}

export function onChange(callback) {
  listeners.push(callback);
}

function notify() {
  for (const callback of listeners) callback();
}

function ensureContext() {
  if (context) return context;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  context = new Context();
  context.addEventListener('statechange', () => {
    if (ringing && audioReady()) startRing();
    notify();
  });
  return context;
}

/** Call from a user gesture: resumes audio (and asks for desktop notifications when `ask`). */
export async function unlock(ask) {
  const ctx = ensureContext();
  if (ctx && ctx.state !== 'running') {
    try {
      await ctx.resume();
    } catch {
      // stays locked; the button stays visible
    }
  }
  if (ask && 'Notification' in window && Notification.permission === 'default') {
    try {
      await Notification.requestPermission();
    } catch {
      // old browsers: the callback form; notifications are optional
    }
  }
  notify();
}

/** Try without a gesture: some browsers allow it (the page was used before), most do not. */
export function probe() {
  const ctx = ensureContext();
  if (ctx && ctx.state !== 'running') ctx.resume().catch(() => {});
  const once = () => {
    unlock(false);
    window.removeEventListener('pointerdown', once, true);
    window.removeEventListener('keydown', once, true);
  };
  window.addEventListener('pointerdown', once, true);
  window.addEventListener('keydown', once, true);
}

export function needsUnlock() {
  const notifications = 'Notification' in window && Notification.permission === 'default';
  return !audioReady() || notifications;
}

function tone(ctx, frequency, start, length, volume, type = 'sine') {
  const oscillator = ctx.createOscillator();
  const gain = ctx.createGain();
  oscillator.type = type;
  oscillator.frequency.setValueAtTime(frequency, start);
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(volume, start + 0.015);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
  oscillator.connect(gain).connect(ctx.destination);
  oscillator.start(start);
  oscillator.stop(start + length + 0.05);
}

/** One ring: a soft two-note chime, twice, like a desk bell heard from the next room. */
function ringOnce() {
  if (!audioReady() || muted()) return;
  const at = context.currentTime + 0.02;
  for (const offset of [0, 0.9]) {
    tone(context, 784, at + offset, 0.7, 0.16);
    tone(context, 1568, at + offset, 0.35, 0.025);
    tone(context, 659, at + offset + 0.22, 0.9, 0.14);
  }
}

function startRing() {
  if (ringTimer || muted()) return;
  ringOnce();
  ringTimer = setInterval(ringOnce, RING_EVERY_MS);
}

function stopRing() {
  clearInterval(ringTimer);
  ringTimer = 0;
}

/** Ring while any of my phones rings; idempotent. */
export function setRinging(active) {
  ringing = active;
  if (active) startRing();
  else stopRing();
}

/** A new callback task: two short rising notes, quieter and different from the ring. */
export function chime() {
  if (!audioReady() || muted()) return;
  const at = context.currentTime + 0.02;
  tone(context, 988, at, 0.18, 0.09, 'triangle');
  tone(context, 1319, at + 0.12, 0.3, 0.08, 'triangle');
}
