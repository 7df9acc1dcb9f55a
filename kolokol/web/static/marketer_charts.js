// Charts on the marketer page, drawn by uPlot (vendored under vendor/uplot, MIT): lines over days and
// grouped bars per report group. Labels are visitor-supplied text (utm values): uPlot draws them on the
// canvas and puts them in its legend with textContent, never as markup.

import uPlot from './vendor/uplot/uPlot.esm.js';
import { h } from './dom.js';

export const COLORS = ['#0f6b64', '#1f5fc4', '#c0640a', '#5a3fbf', '#bd3128', '#2f8f4e', '#485868', '#b0338a'];
const HEIGHT = 260;
const AXIS = { stroke: '#566573', grid: { stroke: '#e3e8ec', width: 1 }, ticks: { stroke: '#e3e8ec', width: 1 }, font: '12px system-ui, sans-serif' };
// Axis labels are short; legends hold more (a long utm value must not push the chart apart).
const AXIS_CHARS = 16;
const LEGEND_CHARS = 48;

function cut(text, chars = AXIS_CHARS) {
  const value = String(text);
  return value.length > chars ? `${value.slice(0, chars - 1)}…` : value;
}

/** Whole numbers on the count axis only (no «0.5 calls»). */
function countTicks(_u, splits) {
  return splits.map((v) => (Number.isInteger(v) ? String(v) : ''));
}

const COUNT_AXIS = { ...AXIS, values: countTicks, size: 44, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] };

/**
 * One chart in a box: `draw` replaces what it showed. Follows the box's width; `summary` is the text a
 * screen reader (and a test) gets for what the canvas shows.
 */
export class ChartBox {
  /** @param {HTMLElement} box @param {number} [height] */
  constructor(box, height = HEIGHT) {
    this.box = box;
    this.height = height;
    this.plot = null;
    this.observer = new ResizeObserver(() => {
      if (this.plot && this.box.clientWidth > 0) this.plot.setSize({ width: this.box.clientWidth, height: this.height });
    });
    this.observer.observe(box);
  }

  clear() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.box.replaceChildren();
  }

  empty(text) {
    this.clear();
    this.box.dataset.drawn = 'false';
    this.box.append(h('p', { class: 'mk-chart-empty' }, text));
  }

  _make(options, data, summary) {
    this.clear();
    this.box.dataset.drawn = 'true';
    this.box.dataset.series = String(options.series.length - 1);
    this.box.dataset.points = String(data[0].length);
    this.box.setAttribute('aria-label', summary);
    this.plot = new uPlot({ width: Math.max(this.box.clientWidth, 320), height: this.height, ...options }, data, this.box);
  }

  /**
   * Lines over days: `days` are the x labels (already formatted), each series {label, values}.
   * @param {string[]} days @param {{label: string, values: number[]}[]} series @param {string} summary
   * @param {string} xLabel what the legend calls the x value ("Day")
   */
  lines(days, series, summary, xLabel) {
    const xs = days.map((_, i) => i);
    this._make(
      {
        padding: [8, 12, 0, 16],
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [
          { ...AXIS, space: 64, incrs: [1, 2, 5, 7, 14, 30, 61, 91, 182, 365], values: (_u, splits) => splits.map((i) => (Number.isInteger(i) && days[i] ? days[i] : '')) },
          COUNT_AXIS,
        ],
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        series: [
          { label: xLabel, value: (_u, i) => (i == null || !days[i] ? '' : days[i]) },
          ...series.map((s, i) => ({ label: cut(s.label, LEGEND_CHARS), stroke: COLORS[i % COLORS.length], width: 2, points: { size: 5 } })),
        ],
      },
      [xs, ...series.map((s) => s.values)],
      summary,
    );
  }

  /**
   * Grouped bars: one group of bars per label (a source, a campaign…), one bar per measure.
   * @param {string[]} labels @param {{label: string, values: number[], color: string}[]} measures @param {string} summary
   * @param {string} xLabel what the legend calls a label ("Source")
   */
  bars(labels, measures, summary, xLabel) {
    const xs = labels.map((_, i) => i);
    const slot = 0.8 / measures.length;
    const offsets = (k) => ({ unit: 1, values: () => xs.map((i) => i - 0.4 + k * slot) });
    const size = { unit: 1, values: () => xs.map(() => slot * 0.88) };
    this._make(
      {
        scales: { x: { time: false, range: () => [-0.6, labels.length - 0.4] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [
          { ...AXIS, grid: { show: false }, incrs: [1], values: (_u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] !== undefined ? cut(labels[i]) : '')) },
          COUNT_AXIS,
        ],
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        legend: { live: true },
        series: [
          { label: xLabel, value: (_u, i) => (i == null || labels[i] === undefined ? '' : cut(labels[i], LEGEND_CHARS)) },
          ...measures.map((m, k) => ({
            label: m.label,
            stroke: m.color,
            fill: m.color,
            width: 0,
            paths: uPlot.paths.bars({ disp: { x0: offsets(k), size } }),
            points: { show: false },
          })),
        ],
      },
      [xs, ...measures.map((m) => m.values)],
      summary,
    );
  }
}

/**
 * One pool over time: the most numbers leased at once (an area), the pool's size (a dashed line) and the
 * visitors shown the fallback because none was free (bars).
 */
export function occupancy(box, times, leased, overflows, size, labels) {
  const chart = new ChartBox(box, 160);
  const xs = times.map((_, i) => i);
  chart._make(
    {
      // Room on the left for the first time label, centred on the plot's edge.
      padding: [8, 12, 0, 28],
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(size, max, 1)] } },
      axes: [
        // Labels like «5 нояб., 22:00» need room: ticks at least 130 px apart, on whole hours/days.
        { ...AXIS, space: 130, incrs: [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720], values: (_u, splits) => splits.map((i) => (Number.isInteger(i) && times[i] ? times[i] : '')) },
        { ...COUNT_AXIS, size: 36 },
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      series: [
        { label: labels.time, value: (_u, i) => (i == null || !times[i] ? '' : times[i]) },
        { label: labels.leased, stroke: COLORS[0], fill: 'rgba(15, 107, 100, 0.12)', width: 2, points: { show: false } },
        { label: labels.size, stroke: '#485868', width: 1, dash: [4, 4], points: { show: false } },
        { label: labels.overflows, stroke: '#bd3128', fill: '#bd3128', width: 0, paths: uPlot.paths.bars({ size: [0.9, 6] }), points: { show: false } },
      ],
    },
    [xs, leased, times.map(() => size), overflows],
    labels.summary,
  );
  return chart;
}
