// "Pools": per site and pool, how full it is now, how often visitors got the fallback number, occupancy
// over time, and the size Erlang-B recommends for the target overflow share, said in a plain sentence.

import { errorBox, get, withQuery } from './marketer_api.js';
import { occupancy } from './marketer_charts.js';
import { h } from './dom.js';
import { lang, t, tn } from './i18n.js';
import { addDays, count, dayLabel, moment, share, today, tracking } from './marketer_format.js';
import { loadSites } from './marketer_numbers.js';

function pick(row, ...names) {
  for (const name of names) if (row && row[name] !== undefined && row[name] !== null) return row[name];
  return undefined;
}

function poolsOf(health) {
  if (Array.isArray(health)) return health;
  return (health && health.pools) || [];
}

/** «Добавьте 3 номера…», «Можно убрать 2 номера…», «Размера хватает»: what to do with the pool. */
export function advice(size, recommended, target) {
  if (typeof recommended !== 'number' || typeof size !== 'number') return t('marketer.pools.advice_unknown');
  const targetText = share(target);
  if (recommended > size) return tn('marketer.pools.advice_add', recommended - size, { size: recommended, target: targetText });
  if (recommended < size) return tn('marketer.pools.advice_remove', size - recommended, { size: recommended, target: targetText });
  return t('marketer.pools.advice_ok', { target: targetText });
}

/** The health API's occupancy: the most numbers leased at once per hour (or day, for long windows). */
function occupancyPoints(pool) {
  const raw = pool.occupancy || {};
  // Long windows come per local day (the bucket starts at the clinic's midnight): the day alone says it.
  const label = raw.interval === 'day' ? (at) => dayLabel(localDay(at)) : moment;
  return (raw.points || []).filter((p) => p && p.start).map((p) => ({ at: p.start, label: label(p.start), leased: p.peak_leased, overflows: p.overflows || 0 }));
}

const localDayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: tracking.timezone, year: 'numeric', month: '2-digit', day: '2-digit' });

function localDay(iso) {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? iso : localDayFormat.format(at);
}

function poolCard(site, pool) {
  const name = pick(pool, 'pool', 'name') ?? '';
  const size = pick(pool, 'size', 'numbers');
  const leased = pick(pool, 'leased_now', 'leased');
  const overflows = pick(pool, 'overflows', 'overflow_count');
  const overflowShare = pick(pool, 'overflow_share');
  const recommended = pick(pool, 'recommended_size', 'recommended');
  const target = pick(pool, 'target_overflow_share', 'overflow_target') ?? tracking.overflow_target;
  const quarantined = pick(pool, 'quarantined');
  const sizeNumber = typeof size === 'number' ? size : Array.isArray(size) ? size.length : undefined;
  const facts = [
    ['size', count(sizeNumber)],
    ['leased_now', count(leased)],
    ['overflows', count(overflows)],
    ['overflow_share', share(overflowShare)],
    ['recommended', count(recommended)],
  ];
  if (typeof quarantined === 'number' && quarantined > 0) facts.splice(1, 0, ['quarantined', count(quarantined)]);
  // The server words the advice (it knows why it cannot size a pool yet); ours is the fallback.
  const serverAdvice = pool.advice && typeof pool.advice[lang] === 'string' ? pool.advice[lang] : null;
  const kind = typeof recommended !== 'number' ? 'unknown' : recommended > sizeNumber ? 'add' : recommended < sizeNumber ? 'remove' : 'ok';
  const sentence = h('p', { class: 'mk-advice', dataset: { kind } }, serverAdvice || advice(sizeNumber, recommended, target));
  const chartBox = h('div', { class: 'mk-chart mk-chart-small', role: 'img' });
  const card = h(
    'article',
    { class: 'panel mk-pool-health', dataset: { site, pool: name } },
    h('h3', { class: 'section-title' }, t('marketer.pools.health_title', { site, pool: name })),
    h('div', { class: 'mk-panel-body' }, h('dl', { class: 'mk-facts-grid' }, facts.map(([key, text]) => h('div', { dataset: { fact: key } }, h('dt', {}, t(`marketer.pools.fact.${key}`)), h('dd', {}, text || '—')))), sentence, chartBox),
  );
  const points = occupancyPoints(pool);
  if (points.length && typeof sizeNumber === 'number') {
    // Drawn after the card is in the page (the chart takes the box's width).
    requestAnimationFrame(() =>
      occupancy(chartBox, points.map((p) => p.label), points.map((p) => Number(p.leased) || 0), points.map((p) => p.overflows), sizeNumber, {
        time: t('marketer.pools.chart_time'),
        leased: t('marketer.pools.chart_leased'),
        size: t('marketer.pools.chart_size'),
        overflows: t('marketer.pools.chart_overflows'),
        summary: t('marketer.pools.chart_summary', { pool: name }),
      }),
    );
  } else {
    chartBox.replaceChildren(h('p', { class: 'mk-chart-empty' }, t('marketer.pools.no_occupancy')));
  }
  return card;
}

// The health API reads every lease of its window: at most 62 days.
const WINDOWS = [1, 7, 30, 60];

export function mountPools(root) {
  const intro = h('p', { class: 'mk-panel-intro' }, t('marketer.pools.intro', { target: share(tracking.overflow_target) }));
  const span = h('select', { id: 'pool-window' }, WINDOWS.map((days) => h('option', { value: String(days) }, tn('marketer.pools.window_days', days))));
  span.value = '30';
  const controls = h('div', { class: 'mk-filters mk-filters-plain' }, h('div', { class: 'field' }, h('label', { for: 'pool-window' }, t('marketer.pools.window')), span));
  const box = h('div', { class: 'mk-pool-grid', id: 'pool-health' });
  root.replaceChildren(h('div', { class: 'mk-pools-head' }, intro, controls), box);
  span.addEventListener('change', () => load());
  return load;

  async function load() {
    root.setAttribute('aria-busy', 'true');
    let sites;
    try {
      sites = await loadSites();
    } catch (error) {
      box.replaceChildren(errorBox('marketer.sites.load_failed', error));
      root.removeAttribute('aria-busy');
      return;
    }
    if (!sites.length) {
      box.replaceChildren(h('p', { class: 'table-empty panel' }, t('marketer.pools.no_sites')));
      root.removeAttribute('aria-busy');
      return;
    }
    const cards = await Promise.all(
      sites.map(async (site) => {
        const key = site.site ?? site.id ?? '';
        try {
          // From the clinic's midnight that many days back, up to now (a whole "to" day would reach
          // into the hours still to come).
          const days = Number(span.value);
          const health = await get(withQuery(`/api/tracking/sites/${encodeURIComponent(key)}/health`, { from: addDays(today(), 1 - days), to: new Date().toISOString() }));
          const pools = poolsOf(health);
          return pools.length ? pools.map((pool) => poolCard(key, pool)) : [h('p', { class: 'table-empty panel' }, t('marketer.pools.site_no_pools', { site: key }))];
        } catch (error) {
          return [h('div', { class: 'panel mk-pool-health' }, h('h3', { class: 'section-title' }, t('marketer.sites.site_named', { site: key })), errorBox('marketer.pools.load_failed', error))];
        }
      }),
    );
    box.replaceChildren(...cards.flat());
    root.removeAttribute('aria-busy');
  }
}
