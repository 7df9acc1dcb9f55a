// "Costs": what each source cost per month (entered here or imported from a CSV), for cost per call.

import { errorBox, errorText, get, postFile, put, withQuery } from './marketer_api.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { amount, canEdit, thisMonth } from './marketer_format.js';
import { confirmDialog, editDialog, field, textInput } from './marketer_forms.js';
import { toast } from './toast.js';

const KEY_FIELDS = ['channel', 'source', 'medium', 'campaign'];
const CHANNELS = ['paid', 'organic', 'referral', 'social', 'email', 'direct', 'offline', 'other'];
const IMPORT_MAX_BYTES = 1024 * 1024;

function costsOf(data) {
  if (Array.isArray(data)) return data;
  return (data && (data.costs || data.rows)) || [];
}

function costForm(entry) {
  const channel = h('select', { name: 'channel' }, h('option', { value: '' }, t('marketer.costs.any')), CHANNELS.map((c) => h('option', { value: c }, t(`channel.${c}`))));
  channel.value = (entry && entry.channel) || '';
  const month = h('input', { type: 'month', name: 'month', value: (entry && entry.month) || thisMonth(), required: true });
  const sum = h('input', { type: 'text', name: 'amount', inputmode: 'decimal', value: entry ? String(entry.amount ?? '') : '', required: true, placeholder: '15000' });
  return h(
    'div',
    { class: 'mk-form-grid' },
    field(t('marketer.costs.month'), month),
    field(t('marketer.col.channel'), channel),
    field(t('marketer.col.source'), textInput('source', entry && entry.source, { placeholder: 'yandex' })),
    field(t('marketer.col.medium'), textInput('medium', entry && entry.medium, { placeholder: 'cpc' })),
    field(t('marketer.col.campaign'), textInput('campaign', entry && entry.campaign)),
    field(t('marketer.costs.amount'), sum),
    field(t('marketer.costs.currency'), textInput('currency', (entry && entry.currency) || 'RUB', { maxlength: 3 })),
  );
}

function costBody(form) {
  const value = (name) => form.elements.namedItem(name).value.trim();
  const text = value('amount').replace(/\s/g, '').replace(',', '.');
  const number = Number(text);
  if (!text || !Number.isFinite(number)) throw new Error(t('marketer.costs.amount_invalid'));
  const body = { month: value('month'), amount: number, currency: value('currency').toUpperCase() || 'RUB' };
  for (const key of KEY_FIELDS) body[key] = value(key);
  return body;
}

function keyOf(cost) {
  return [cost.month, ...KEY_FIELDS.map((key) => cost[key] || '')].join('\u0000');
}

/** The API removes the cost stored under a key when its amount is null. */
function removal(cost) {
  const body = { month: cost.month, amount: null };
  for (const key of KEY_FIELDS) body[key] = cost[key] || '';
  return body;
}

function editCost(entry, reload) {
  editDialog({
    title: entry ? t('marketer.costs.edit_title') : t('marketer.costs.add_title'),
    body: costForm(entry),
    save: async (form) => {
      const cost = costBody(form);
      // A changed month or source is another cost: the old one goes in the same change (all or nothing).
      const moved = entry && keyOf(entry) !== keyOf(cost);
      return put('/api/tracking/costs', moved ? [cost, removal(entry)] : cost);
    },
    done: () => {
      toast(t('marketer.costs.saved'), 'ok');
      reload();
    },
  });
}

async function removeCost(entry, reload) {
  const sure = await confirmDialog(t('marketer.costs.remove_title', { month: entry.month }), t('marketer.costs.remove_text'), t('marketer.costs.remove'));
  if (!sure) return;
  try {
    await put('/api/tracking/costs', removal(entry));
    toast(t('marketer.costs.removed'), 'ok');
  } catch (error) {
    toast(errorText(error), 'error');
  }
  reload();
}

function costsTable(costs, reload) {
  if (!costs.length) return h('p', { class: 'table-empty' }, t('marketer.costs.empty'));
  const columns = ['month', ...KEY_FIELDS];
  const head = h(
    'tr',
    {},
    columns.map((c) => h('th', { scope: 'col' }, t(c === 'month' ? 'marketer.costs.month' : `marketer.col.${c}`))),
    h('th', { scope: 'col', class: 'num' }, t('marketer.costs.amount')),
    canEdit ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('marketer.actions'))) : null,
  );
  const rows = costs.map((entry) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, entry.month || ''),
      h('td', {}, entry.channel ? (CHANNELS.includes(entry.channel) ? t(`channel.${entry.channel}`) : entry.channel) : t('marketer.costs.all')),
      ...['source', 'medium', 'campaign'].map((c) => h('td', { class: 'mk-text' }, entry[c] || '')),
      h('td', { class: 'num' }, `${amount(entry.amount)} ${entry.currency || ''}`.trim()),
      canEdit
        ? h(
            'td',
            { class: 'mk-actions' },
            h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => editCost(entry, reload) }, t('marketer.edit')),
            h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => removeCost(entry, reload) }, t('marketer.costs.remove')),
          )
        : null,
    ),
  );
  return h('div', { class: 'table-wrap' }, h('table', { class: 'live-table mk-table', id: 'costs-table' }, h('thead', {}, head), h('tbody', {}, rows)));
}

function importForm(reload) {
  const file = h('input', { type: 'file', name: 'file', id: 'costs-file', accept: '.csv,text/csv,text/plain' });
  const result = h('p', { class: 'mk-hint', role: 'status', id: 'costs-import-result' });
  const submit = h('button', { type: 'submit', class: 'button-secondary button-small' }, t('marketer.costs.import'));
  const form = h(
    'form',
    { class: 'mk-import' },
    h('div', { class: 'field' }, h('label', { for: 'costs-file' }, t('marketer.costs.import_label')), file, h('span', { class: 'mk-hint' }, t('marketer.costs.import_hint'))),
    submit,
    result,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = file.files && file.files[0];
    if (!chosen) {
      result.textContent = t('marketer.costs.import_pick');
      return;
    }
    if (chosen.size > IMPORT_MAX_BYTES) {
      result.textContent = t('marketer.costs.import_too_big');
      return;
    }
    submit.disabled = true;
    try {
      const answer = await postFile('/api/tracking/costs/import', await chosen.arrayBuffer());
      const n = answer && answer.imported;
      result.textContent = typeof n === 'number' ? t('marketer.costs.imported', { n }) : t('marketer.costs.imported_some');
      file.value = '';
      reload();
    } catch (error) {
      result.textContent = t('marketer.costs.import_failed', { message: errorText(error) });
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function mountCosts(root) {
  const tableBox = h('div', {});
  const reload = () => load();
  root.replaceChildren(
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'costs-heading' },
      h(
        'div',
        { class: 'mk-panel-head' },
        h('h2', { class: 'section-title', id: 'costs-heading' }, t('marketer.costs.heading')),
        canEdit ? h('button', { type: 'button', class: 'button-primary button-small', id: 'add-cost', onclick: () => editCost(null, reload) }, t('marketer.costs.add')) : null,
      ),
      h('p', { class: 'mk-panel-intro' }, t('marketer.costs.intro')),
      canEdit ? h('div', { class: 'mk-panel-body' }, importForm(reload)) : null,
      tableBox,
    ),
  );
  async function load() {
    try {
      tableBox.replaceChildren(costsTable(costsOf(await get(withQuery('/api/tracking/costs', {}))), reload));
    } catch (error) {
      tableBox.replaceChildren(errorBox('marketer.costs.load_failed', error));
    }
  }
  return load;
}
