// "Exports": the files Yandex Metrica and Google Ads accept, for a range of the clinic's days.

import { downloadOnClick, withQuery } from './marketer_api.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { addDays, today } from './marketer_format.js';

const EXPORTS = [
  { key: 'yandex', path: '/api/tracking/exports/yandex-metrica', file: 'yandex-metrica-calls' },
  { key: 'google', path: '/api/tracking/exports/google-ads', file: 'google-ads-conversions' },
];

export function mountExports(root) {
  const day = today();
  const from = h('input', { type: 'date', id: 'export-from', value: addDays(day, -6), required: true });
  const to = h('input', { type: 'date', id: 'export-to', value: day, required: true });
  const links = EXPORTS.map((e) => ({ ...e, link: h('a', { class: 'button-secondary', id: `export-${e.key}`, href: '#', download: '' }, t(`marketer.exports.${e.key}`)) }));
  const refresh = () => {
    const range = from.value <= to.value ? { from: from.value, to: to.value } : { from: to.value, to: from.value };
    for (const e of links) {
      e.link.href = withQuery(e.path, range);
      e.link.setAttribute('download', `${e.file}-${range.from}-${range.to}.csv`);
    }
  };
  const status = h('div', { id: 'export-status' });
  for (const e of links) downloadOnClick(e.link, status);
  from.addEventListener('change', refresh);
  to.addEventListener('change', refresh);
  refresh();
  root.replaceChildren(
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'exports-heading' },
      h('div', { class: 'mk-panel-head' }, h('h2', { class: 'section-title', id: 'exports-heading' }, t('marketer.exports.heading'))),
      h('p', { class: 'mk-panel-intro' }, t('marketer.exports.intro')),
      h(
        'div',
        { class: 'mk-panel-body' },
        h('div', { class: 'mk-filters mk-filters-plain' }, h('div', { class: 'field' }, h('label', { for: 'export-from' }, t('marketer.report.from')), from), h('div', { class: 'field' }, h('label', { for: 'export-to' }, t('marketer.report.to')), to)),
        h(
          'ul',
          { class: 'mk-export-list' },
          links.map((e) => h('li', {}, e.link, h('span', { class: 'mk-hint' }, t(`marketer.exports.${e.key}_hint`)))),
        ),
        status,
      ),
    ),
  );
  return () => {};
}
