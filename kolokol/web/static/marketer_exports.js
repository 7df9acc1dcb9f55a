// "Exports": the files Yandex Metrica and Google Ads accept, for a range of the clinic's days.

import { storageKey } from './common.js';
import { downloadOnClick, withQuery } from './marketer_api.js';
import { h } from './dom.js';
import { t, tn } from './i18n.js';
import { addDays, today } from './marketer_format.js';
import { field, textInput } from './marketer_forms.js';

const CONVERSION_KEY = storageKey('google-ads-conversion');

function select(name, options, value) {
  const box = h('select', { name }, options.map(([optionValue, key]) => h('option', { value: optionValue }, t(key))));
  box.value = value;
  return box;
}

export function mountExports(root) {
  const day = today();
  const from = h('input', { type: 'date', id: 'export-from', value: addDays(day, -6), required: true });
  const to = h('input', { type: 'date', id: 'export-to', value: day, required: true });
  const which = select(
    'which',
    [
      ['all', 'marketer.exports.all_calls'],
      ['answered', 'marketer.exports.answered_calls'],
      ['target', 'marketer.exports.target_calls'],
    ],
    'all',
  );
  which.id = 'export-which';
  const ids = select(
    'ids',
    [
      ['both', 'marketer.exports.ids_both'],
      ['client_id', 'marketer.exports.ids_client'],
      ['yclid', 'marketer.exports.ids_yclid'],
    ],
    'both',
  );
  const withStatic = h('input', { type: 'checkbox', name: 'static', id: 'export-static', checked: true });
  const conversion = textInput('conversion_name', localStorage.getItem(CONVERSION_KEY) || '', { id: 'export-conversion', maxlength: 100, placeholder: t('marketer.exports.conversion_hint') });
  const value = textInput('value', '', { id: 'export-value', inputmode: 'decimal', maxlength: 20 });
  const currency = textInput('currency', 'RUB', { id: 'export-currency', maxlength: 3 });
  const yandex = h('a', { class: 'button-secondary', id: 'export-yandex', href: '#', download: '' }, t('marketer.exports.yandex'));
  const google = h('a', { class: 'button-secondary', id: 'export-google', href: '#', download: '' }, t('marketer.exports.google'));
  const status = h('div', { id: 'export-status', role: 'status' });

  const refresh = () => {
    const range = from.value <= to.value ? { from: from.value, to: to.value } : { from: to.value, to: from.value };
    const filter = { answered: which.value === 'answered' ? 1 : null, target: which.value === 'target' ? 1 : null };
    yandex.href = withQuery('/api/tracking/exports/yandex-metrica', { ...range, ...filter, ids: ids.value, static: withStatic.checked ? null : 0 });
    yandex.setAttribute('download', `kolokol-metrica-calls-${range.from}-${range.to}.csv`);
    google.href = withQuery('/api/tracking/exports/google-ads', {
      ...range,
      ...filter,
      conversion_name: conversion.value.trim(),
      value: value.value.trim().replace(',', '.'),
      currency: currency.value.trim().toUpperCase(),
    });
    google.setAttribute('download', `kolokol-google-ads-conversions-${range.from}-${range.to}.csv`);
  };
  for (const input of [from, to, which, ids, withStatic, conversion, value, currency]) {
    input.addEventListener('change', refresh);
    input.addEventListener('input', refresh);
  }
  conversion.addEventListener('change', () => localStorage.setItem(CONVERSION_KEY, conversion.value.trim()));
  const saved = (response) => {
    const rows = Number(response.headers.get('X-Kolokol-Rows'));
    status.replaceChildren(h('p', { class: 'mk-hint mk-saved' }, Number.isFinite(rows) ? tn('marketer.exports.saved', rows) : t('marketer.exports.saved_file')));
  };
  downloadOnClick(yandex, status, saved);
  downloadOnClick(google, status, saved);
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
        h(
          'div',
          { class: 'mk-filters mk-filters-plain' },
          h('div', { class: 'field' }, h('label', { for: 'export-from' }, t('marketer.report.from')), from),
          h('div', { class: 'field' }, h('label', { for: 'export-to' }, t('marketer.report.to')), to),
          field(t('marketer.exports.which'), which),
        ),
        h(
          'div',
          { class: 'mk-export' },
          h('h3', { class: 'mk-export-title' }, t('marketer.exports.yandex_title')),
          h('p', { class: 'mk-hint' }, t('marketer.exports.yandex_hint')),
          h('div', { class: 'mk-filters mk-filters-plain' }, field(t('marketer.exports.ids'), ids), h('label', { class: 'mk-check' }, withStatic, t('marketer.exports.static')), yandex),
        ),
        h(
          'div',
          { class: 'mk-export' },
          h('h3', { class: 'mk-export-title' }, t('marketer.exports.google_title')),
          h('p', { class: 'mk-hint' }, t('marketer.exports.google_hint')),
          h('div', { class: 'mk-filters mk-filters-plain' }, field(t('marketer.exports.conversion'), conversion), field(t('marketer.exports.value'), value), field(t('marketer.costs.currency'), currency), google),
        ),
        status,
      ),
    ),
  );
  return () => {};
}
