// The call page's player: the recording in an <audio> element (the server answers Range requests, so
// seeking fetches only what is needed), its waveform on a canvas from the recording's peaks (click or drag
// to jump there), the position, the speed (1×, 1.5×, 2×), and the keys a listener reaches for: space to
// play or pause, arrows for five seconds back or forward.

import { h, icon, setText } from './dom.js';
import { duration } from './format.js';
import { t } from './i18n.js';

const SPEEDS = [1, 1.5, 2];
const STEP_SECONDS = 5;
const BAR = 2; // CSS pixels per bar, and one of gap
const GAP = 1;

/** Peaks as the server sends them: one list for mono, a list per channel for two (caller, clinic). */
function channelsOf(peaks) {
  if (!Array.isArray(peaks) || !peaks.length) return [];
  return Array.isArray(peaks[0]) ? peaks.filter(Array.isArray) : [peaks];
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || target.matches('input, textarea, select'));
}

/**
 * @param {{id: string, url: string, peaks_url?: string|null, duration_seconds?: number|null}} recording
 * @param {(path: string) => Promise<any>} getJson
 */
export function mountPlayer(recording, getJson) {
  const audio = h('audio', { id: 'audio', preload: 'metadata', src: recording.url });
  const playIcon = icon('play');
  const playLabel = h('span', { class: 'visually-hidden' }, t('player.play'));
  const play = h('button', { type: 'button', class: 'button-primary pl-play', id: 'play', 'aria-label': t('player.play') }, playIcon, playLabel);
  const position = h('span', { class: 'pl-time', id: 'position', 'aria-live': 'off' }, '0:00');
  const total = h('span', { class: 'pl-total', id: 'total' }, recording.duration_seconds ? duration(recording.duration_seconds) : '');
  const canvas = h('canvas', {
    class: 'pl-wave',
    id: 'wave',
    role: 'slider',
    tabindex: 0,
    'aria-label': t('player.position'),
    'aria-valuemin': 0,
    'aria-valuemax': Math.round(recording.duration_seconds || 0),
    'aria-valuenow': 0,
    'aria-valuetext': '0:00',
  });
  const speeds = SPEEDS.map((rate) =>
    h('button', { type: 'button', class: 'button-ghost button-small pl-speed', 'aria-pressed': String(rate === 1), dataset: { rate: String(rate) }, onclick: () => setRate(rate) }, t('player.rate', { rate: String(rate).replace('.', t('player.decimal')) })),
  );
  const download = h('a', { class: 'button-ghost button-small pl-download', id: 'download', href: `${recording.url}${recording.url.includes('?') ? '&' : '?'}download=1` }, icon('download'), h('span', {}, t('player.download')));
  const legend = h('p', { class: 'pl-legend', id: 'legend', hidden: true }, h('span', { class: 'pl-key pl-key-caller' }, t('player.caller')), h('span', { class: 'pl-key pl-key-clinic' }, t('player.clinic')));
  const problem = h('p', { class: 'notice pl-problem', id: 'player-problem', role: 'alert', hidden: true });
  const root = h(
    'div',
    { class: 'pl', id: 'player' },
    audio,
    h('div', { class: 'pl-controls' }, play, h('span', { class: 'pl-clock' }, position, h('span', { class: 'pl-sep' }, ' / '), total), h('div', { class: 'pl-speeds', role: 'group', 'aria-label': t('player.speed') }, speeds), h('div', { class: 'topbar-spacer' }), download),
    h('div', { class: 'pl-wave-box' }, canvas),
    legend,
    problem,
  ); // prettier-ignore

  let channels = [];
  let pendingSeek = null;
  let dragging = false;
  let frame = 0;

  const length = () => (Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : recording.duration_seconds || 0);

  function seek(seconds) {
    const end = length();
    const target = Math.max(0, end ? Math.min(end, seconds) : seconds);
    if (audio.readyState >= HTMLMediaElement.HAVE_METADATA) audio.currentTime = target;
    else {
      // Not loaded yet (preload may wait): jump there as soon as it is.
      pendingSeek = target;
      audio.load();
    }
    draw(target);
  }

  function setRate(rate) {
    audio.playbackRate = rate;
    for (const button of speeds) button.setAttribute('aria-pressed', String(Number(button.dataset.rate) === rate));
  }

  function toggle() {
    if (audio.paused) {
      audio.play().catch(() => {
        // a refused or failed start shows through the element's error event or stays paused
      });
    } else audio.pause();
  }

  function showState() {
    const playing = !audio.paused;
    playIcon.className = `icon icon-${playing ? 'pause' : 'play'}`;
    const label = t(playing ? 'player.pause' : 'player.play');
    play.setAttribute('aria-label', label);
    setText(playLabel, label);
    root.dataset.playing = String(playing);
  }

  function draw(at) {
    const now = at ?? audio.currentTime;
    const end = length();
    setText(position, duration(now));
    if (end) setText(total, duration(end));
    canvas.setAttribute('aria-valuenow', String(Math.round(now)));
    canvas.setAttribute('aria-valuemax', String(Math.round(end)));
    canvas.setAttribute('aria-valuetext', t('player.valuetext', { at: duration(now), of: duration(end) }));
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const context = canvas.getContext('2d');
    if (!context) return;
    const style = getComputedStyle(canvas);
    const played = style.getPropertyValue('--wave-played').trim() || '#0f6b64';
    const rest = style.getPropertyValue('--wave-rest').trim() || '#cdd5dc';
    const second = style.getPropertyValue('--wave-clinic').trim() || '#1f5fc4';
    const cursor = style.getPropertyValue('--wave-cursor').trim() || '#16212b';
    context.clearRect(0, 0, width, height);
    const split = end ? (now / end) * width : 0;
    const step = (BAR + GAP) * ratio;
    const bars = Math.max(1, Math.floor(width / step));
    const middle = height / 2;
    const lanes = channels.length ? channels : [[]];
    for (let i = 0; i < bars; i += 1) {
      const x = i * step;
      lanes.forEach((peaks, lane) => {
        if (!peaks.length) return;
        const from = Math.floor((i / bars) * peaks.length);
        const to = Math.max(from + 1, Math.floor(((i + 1) / bars) * peaks.length));
        let peak = 0;
        for (let j = from; j < to && j < peaks.length; j += 1) peak = Math.max(peak, Number(peaks[j]) || 0);
        const size = Math.max(ratio, (peak / 100) * (middle - ratio));
        const isPlayed = x < split;
        if (lanes.length === 2) {
          // The caller above the line, the clinic below it.
          context.fillStyle = isPlayed ? (lane === 0 ? played : second) : rest;
          if (lane === 0) context.fillRect(x, middle - size, BAR * ratio, size);
          else context.fillRect(x, middle, BAR * ratio, size);
        } else {
          context.fillStyle = isPlayed ? played : rest;
          context.fillRect(x, middle - size, BAR * ratio, size * 2);
        }
      });
    }
    if (end) {
      context.fillStyle = cursor;
      context.fillRect(Math.min(width - ratio, split), 0, Math.max(1, ratio), height);
    }
  }

  function tick() {
    draw();
    frame = audio.paused ? 0 : requestAnimationFrame(tick);
  }

  function atPointer(event) {
    const box = canvas.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / Math.max(1, box.width)));
    return fraction * length();
  }

  canvas.addEventListener('pointerdown', (event) => {
    if (!length()) return;
    dragging = true;
    canvas.setPointerCapture(event.pointerId);
    seek(atPointer(event));
  });
  canvas.addEventListener('pointermove', (event) => {
    if (dragging) seek(atPointer(event));
  });
  const stop = (event) => {
    if (!dragging) return;
    dragging = false;
    if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
  };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
  canvas.addEventListener('keydown', (event) => {
    if (event.key === 'Home') seek(0);
    else if (event.key === 'End') seek(length());
    else return;
    event.preventDefault();
  });

  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    const onControl = event.target instanceof HTMLElement && event.target.matches('button, a, summary');
    if (event.key === ' ' && !onControl) {
      event.preventDefault();
      toggle();
    } else if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      event.preventDefault();
      seek((pendingSeek ?? audio.currentTime) + (event.key === 'ArrowRight' ? STEP_SECONDS : -STEP_SECONDS));
    }
  });

  play.addEventListener('click', toggle);
  audio.addEventListener('play', () => {
    showState();
    if (!frame) frame = requestAnimationFrame(tick);
  });
  audio.addEventListener('pause', () => {
    showState();
    draw();
  });
  audio.addEventListener('ended', showState);
  audio.addEventListener('loadedmetadata', () => {
    if (pendingSeek !== null) {
      audio.currentTime = pendingSeek;
      pendingSeek = null;
    }
    draw();
  });
  audio.addEventListener('timeupdate', () => {
    if (audio.paused) draw();
  });
  audio.addEventListener('seeked', () => draw());
  audio.addEventListener('error', () => {
    problem.replaceChildren(icon('alert'), h('span', {}, t('player.error')));
    problem.hidden = false;
    root.dataset.error = 'true';
  });
  if (typeof ResizeObserver === 'function') new ResizeObserver(() => draw()).observe(canvas);

  if (recording.peaks_url) {
    getJson(recording.peaks_url)
      .then((data) => {
        channels = channelsOf(data && data.peaks);
        legend.hidden = channels.length !== 2;
        root.dataset.peaks = String(channels.length);
        draw();
      })
      .catch(() => {
        // Without peaks the bar still seeks: it is drawn empty.
        root.dataset.peaks = '0';
      });
  }
  showState();
  requestAnimationFrame(() => draw());
  return root;
}
