// "Numbers": static tracking numbers (one source each) and websites with their number pools. Marketers
// and admins change them; managers see them read-only.

import { encodeNumber, errorBox, errorText, get, post, put, remove } from './marketer_api.js';
import { h, icon } from './dom.js';
import { phone } from './format.js';
import { t } from './i18n.js';
import { canEdit, moment, seconds } from './marketer_format.js';
import { cleanNumber, confirmDialog, editDialog, field, lines, linesInput, numberInput, optional, optionalInt, textInput } from './marketer_forms.js';
import { toast } from './toast.js';

const SOURCE_FIELDS = ['source', 'medium', 'campaign', 'content', 'term'];
const CHANNELS = ['offline', 'paid', 'organic', 'referral', 'social', 'email', 'direct', 'other'];

/** A static number's source fields (the API nests them under "source"). */
function sourceOf(entry) {
  const nested = (entry && entry.source) || {};
  const out = {};
  for (const name of SOURCE_FIELDS) out[name] = typeof nested[name] === 'string' ? nested[name] : null;
  return out;
}

/** The list in a GET answer ({"items": [...]}). */
function listOf(data) {
  return data && Array.isArray(data.items) ? data.items : [];
}

function channelLabel(channel) {
  return channel ? (CHANNELS.includes(channel) ? t(`channel.${channel}`) : channel) : '';
}

function channelSelect(value, withAny) {
  const select = h('select', { name: 'channel' });
  if (withAny) select.append(h('option', { value: '' }, t('marketer.pools.any_channel')));
  for (const channel of CHANNELS) select.append(h('option', { value: channel }, t(`channel.${channel}`)));
  select.value = value || (withAny ? '' : 'offline');
  return select;
}

// -- static numbers --------------------------------------------------------------------------------------

function numberForm(entry) {
  const src = sourceOf(entry);
  const numberField = textInput('number', entry ? entry.number : '', { required: true, placeholder: '+7 495 111-00-30', readonly: Boolean(entry) });
  return h(
    'div',
    { class: 'mk-form-grid' },
    field(t('marketer.numbers.number'), numberField),
    field(t('marketer.numbers.name'), textInput('name', entry && entry.name, { placeholder: t('marketer.numbers.name_hint') })),
    field(t('marketer.numbers.branch'), textInput('branch', entry && entry.branch)),
    field(t('marketer.numbers.channel'), channelSelect(entry && entry.channel, false)),
    ...SOURCE_FIELDS.map((name) => field(t(`marketer.col.${name}`), textInput(name, src[name]))),
  );
}

function numberBody(form) {
  const value = (name) => form.elements.namedItem(name).value;
  const source = {};
  for (const name of SOURCE_FIELDS) source[name] = optional(value(name));
  return { name: optional(value('name')), branch: optional(value('branch')), channel: value('channel') || null, source };
}

function editNumber(entry, reload) {
  editDialog({
    title: entry ? t('marketer.numbers.edit_title', { number: phone(entry.number) }) : t('marketer.numbers.add_title'),
    body: numberForm(entry),
    save: async (form) => {
      const number = cleanNumber(form.elements.namedItem('number').value);
      if (!number) throw new Error(t('marketer.numbers.number_required'));
      await put(`/api/tracking/numbers/${encodeNumber(number)}`, numberBody(form));
      return number;
    },
    done: (number) => {
      toast(t('marketer.numbers.saved', { number: phone(number) }), 'ok');
      reload();
    },
  });
}

async function deleteNumber(entry, reload) {
  const sure = await confirmDialog(t('marketer.numbers.delete_title', { number: phone(entry.number) }), t('marketer.numbers.delete_text'), t('marketer.numbers.delete'));
  if (!sure) return;
  try {
    await remove(`/api/tracking/numbers/${encodeNumber(entry.number)}`);
    toast(t('marketer.numbers.deleted', { number: phone(entry.number) }), 'ok');
  } catch (error) {
    toast(`${t('marketer.numbers.delete_failed')}: ${errorText(error)}`, 'error');
  }
  reload();
}

function numbersTable(numbers, reload) {
  if (!numbers.length) return h('p', { class: 'table-empty' }, t('marketer.numbers.empty'));
  const head = ['number', 'name', 'branch', 'channel', ...SOURCE_FIELDS].map((key) => h('th', { scope: 'col' }, t(`marketer.col.${key === 'number' ? 'tracking_number' : key}`)));
  if (canEdit) head.push(h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('marketer.actions'))));
  const rows = numbers.map((entry) => {
    const src = sourceOf(entry);
    const cells = [
      h('th', { scope: 'row', class: 'mk-number' }, phone(entry.number)),
      h('td', {}, entry.name || ''),
      h('td', {}, entry.branch || ''),
      h('td', {}, channelLabel(entry.channel)),
      ...SOURCE_FIELDS.map((name) => h('td', { class: 'mk-text' }, src[name] || '')),
    ];
    if (canEdit) {
      cells.push(
        h(
          'td',
          { class: 'mk-actions' },
          h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => editNumber(entry, reload) }, t('marketer.edit')),
          h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => deleteNumber(entry, reload) }, t('marketer.numbers.delete')),
        ),
      );
    }
    return h('tr', { dataset: { number: entry.number } }, cells);
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'live-table mk-table', id: 'static-numbers' }, h('thead', {}, h('tr', {}, head)), h('tbody', {}, rows)));
}

// -- sites and pools -------------------------------------------------------------------------------------

/** A pool's numbers as {number, state, reason, since, leased}: from `number_states`, else `numbers`. */
function poolNumbers(pool) {
  const out = [];
  for (const item of pool.number_states || pool.numbers || []) {
    if (typeof item === 'string') out.push({ number: item, state: 'active', reason: null, since: null });
    else if (item && typeof item.number === 'string') {
      out.push({ number: item.number, state: item.state || 'active', reason: item.state_reason ?? null, since: item.state_changed_at ?? null, leased: Boolean(item.leased) });
    }
  }
  return out;
}

function siteKey(site) {
  return site.site ?? site.id ?? site.name ?? '';
}

function poolEditor(pool) {
  const numbers = poolNumbers(pool || {}).filter((n) => n.state !== 'retired').map((n) => n.number);
  const box = h(
    'fieldset',
    { class: 'mk-pool-edit' },
    h('legend', {}, t('marketer.pools.pool')),
    h(
      'div',
      { class: 'mk-form-grid' },
      field(t('marketer.pools.name'), textInput('pool_name', pool && pool.name, { placeholder: 'center' })),
      field(t('marketer.numbers.branch'), textInput('pool_branch', pool && pool.branch)),
      field(t('marketer.pools.channel'), channelSelect(pool && pool.channel, true)),
      field(t('marketer.pools.fallback'), textInput('pool_fallback', pool && pool.fallback, { placeholder: '+7 495 111-00-01' })),
    ),
    h(
      'div',
      { class: 'mk-form-grid mk-form-grid-2' },
      field(t('marketer.pools.replaces'), linesInput('pool_replaces', (pool && pool.replaces) || []), t('marketer.pools.lines_hint')),
      field(t('marketer.pools.numbers'), linesInput('pool_numbers', numbers, { rows: 5 }), t('marketer.pools.lines_hint')),
    ),
  );
  const drop = h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => box.remove() }, icon('x'), t('marketer.pools.remove_pool'));
  box.append(drop);
  return box;
}

const MATCH_KEYS = ['source', 'medium', 'campaign'];

/** A number shown by source alone, to visitors without consent (no session, no lease). */
function sourceNumberEditor(item) {
  const match = (item && item.match) || {};
  const box = h(
    'fieldset',
    { class: 'mk-pool-edit mk-source-number-edit' },
    h('legend', {}, t('marketer.sites.source_number')),
    h(
      'div',
      { class: 'mk-form-grid' },
      field(t('marketer.numbers.number'), textInput('sn_number', item && item.number, { placeholder: '+7 495 111-00-40' })),
      field(t('marketer.pools.replaces'), textInput('sn_replaces', ((item && item.replaces) || []).join(', '), { placeholder: '+7 495 111-00-01' })),
      field(t('marketer.sites.match_channel'), channelSelect(match.channel, true)),
      ...MATCH_KEYS.map((key) => field(t(`marketer.col.${key}`), textInput(`sn_${key}`, match[key]))),
    ),
  );
  box.append(h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => box.remove() }, icon('x'), t('marketer.sites.remove_source_number')));
  return box;
}

function sourceNumbersBody(form) {
  return [...form.querySelectorAll('.mk-source-number-edit')].map((box) => {
    const get = (name) => box.querySelector(`[name="${name}"]`).value;
    const match = {};
    if (get('channel')) match.channel = get('channel');
    for (const key of MATCH_KEYS) if (get(`sn_${key}`).trim()) match[key] = get(`sn_${key}`).trim();
    return { number: cleanNumber(get('sn_number')), replaces: lines(get('sn_replaces')).map(cleanNumber), match };
  });
}

function siteForm(site) {
  const pools = h('div', { class: 'mk-pools-edit' }, ...((site && site.pools) || [null]).filter((p) => !p || !p.retired_at).map((pool) => poolEditor(pool)));
  const sourceNumbers = h('div', { class: 'mk-pools-edit' }, ...((site && site.source_numbers) || []).map((item) => sourceNumberEditor(item)));
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'mk-form-grid' },
      field(t('marketer.sites.key'), textInput('site', site ? siteKey(site) : '', { required: true, placeholder: 'clinic-main', readonly: Boolean(site) })),
      field(t('marketer.sites.hold'), numberInput('hold_seconds', site ? site.hold_seconds : 300, { min: 1 })),
      field(t('marketer.sites.heartbeat'), numberInput('heartbeat_seconds', site ? site.heartbeat_seconds : 30, { min: 1 })),
      field(t('marketer.sites.max_lease'), numberInput('max_lease_seconds', site ? site.max_lease_seconds : '', { min: 1 }), t('marketer.sites.max_lease_hint')),
    ),
    field(t('marketer.sites.origins'), linesInput('origins', (site && site.origins) || []), t('marketer.sites.origins_hint')),
    pools,
    h('button', { type: 'button', class: 'button-secondary button-small', onclick: () => pools.append(poolEditor(null)) }, t('marketer.pools.add_pool')),
    h('p', { class: 'mk-hint mk-form-note' }, t('marketer.sites.source_numbers_hint')),
    sourceNumbers,
    h('button', { type: 'button', class: 'button-secondary button-small', onclick: () => sourceNumbers.append(sourceNumberEditor(null)) }, t('marketer.sites.add_source_number')),
  );
}

function siteBody(form) {
  const value = (name) => form.elements.namedItem(name).value;
  const body = {
    source_numbers: sourceNumbersBody(form),
    origins: lines(value('origins')),
    hold_seconds: optionalInt(value('hold_seconds')),
    heartbeat_seconds: optionalInt(value('heartbeat_seconds')),
    pools: [...form.querySelectorAll('.mk-pool-edit:not(.mk-source-number-edit)')].map((box) => {
      const get = (name) => box.querySelector(`[name="${name}"]`).value;
      return {
        name: get('pool_name').trim(),
        branch: optional(get('pool_branch')),
        channel: get('channel') || null,
        replaces: lines(get('pool_replaces')).map(cleanNumber),
        numbers: lines(get('pool_numbers')).map(cleanNumber),
        fallback: optional(get('pool_fallback')) ? cleanNumber(get('pool_fallback')) : null,
      };
    }),
  };
  const maxLease = optionalInt(value('max_lease_seconds'));
  if (maxLease !== null) body.max_lease_seconds = maxLease;
  return body;
}

function editSite(site, reload) {
  editDialog({
    title: site ? t('marketer.sites.edit_title', { site: siteKey(site) }) : t('marketer.sites.add_title'),
    body: siteForm(site),
    save: async (form) => {
      const key = form.elements.namedItem('site').value.trim();
      if (!key) throw new Error(t('marketer.sites.key_required'));
      await put(`/api/tracking/sites/${encodeURIComponent(key)}`, siteBody(form));
      return key;
    },
    done: (key) => {
      toast(t('marketer.sites.saved', { site: key }), 'ok');
      reload();
    },
  });
}

function quarantine(number, reload) {
  const reason = textInput('reason', '', { required: true, maxlength: 200, placeholder: t('marketer.pools.reason_hint') });
  editDialog({
    title: t('marketer.pools.quarantine_title', { number: phone(number) }),
    body: h('div', {}, h('p', { class: 'dialog-text' }, t('marketer.pools.quarantine_text')), field(t('marketer.pools.reason'), reason)),
    submitLabel: t('marketer.pools.quarantine'),
    save: async () => {
      const text = reason.value.trim();
      if (!text) throw new Error(t('marketer.pools.reason_required'));
      await post(`/api/tracking/pool-numbers/${encodeNumber(number)}/quarantine`, { reason: text });
    },
    done: () => {
      toast(t('marketer.pools.quarantined', { number: phone(number) }), 'ok');
      reload();
    },
  });
}

async function release(number, reload) {
  try {
    await post(`/api/tracking/pool-numbers/${encodeNumber(number)}/release`, {});
    toast(t('marketer.pools.released', { number: phone(number) }), 'ok');
  } catch (error) {
    toast(`${t('marketer.pools.release_failed')}: ${errorText(error)}`, 'error');
  }
  reload();
}

function poolView(pool, reload) {
  const numbers = poolNumbers(pool);
  const rows = numbers.map((n) =>
    h(
      'tr',
      { dataset: { number: n.number, state: n.state } },
      h('th', { scope: 'row', class: 'mk-number' }, phone(n.number)),
      h('td', {}, h('span', { class: 'mk-state', dataset: { state: n.state } }, t(`marketer.pools.state.${n.state}`)), n.leased ? h('span', { class: 'mk-leased' }, t('marketer.pools.leased_now')) : null),
      h('td', { class: 'mk-text' }, n.state === 'active' ? '' : [n.reason, n.since ? moment(n.since) : null].filter(Boolean).join(' · ')),
      canEdit
        ? h(
            'td',
            { class: 'mk-actions' },
            n.state === 'active' ? h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => quarantine(n.number, reload) }, t('marketer.pools.quarantine')) : null,
            n.state === 'quarantined' ? h('button', { type: 'button', class: 'button-ghost button-small', onclick: () => release(n.number, reload) }, t('marketer.pools.release')) : null,
          )
        : null,
    ),
  );
  const facts = [
    pool.branch ? t('marketer.pools.branch_is', { branch: pool.branch }) : null,
    pool.channel ? t('marketer.pools.channel_is', { channel: channelLabel(pool.channel) }) : null,
    (pool.replaces || []).length ? t('marketer.pools.replaces_is', { numbers: pool.replaces.map(phone).join(', ') }) : null,
    pool.fallback ? t('marketer.pools.fallback_is', { number: phone(pool.fallback) }) : t('marketer.pools.no_fallback'),
  ].filter(Boolean);
  return h(
    'div',
    { class: 'mk-pool', dataset: { pool: pool.name } },
    h('h4', { class: 'mk-pool-title' }, t('marketer.pools.pool_named', { name: pool.name }), pool.retired_at ? h('span', { class: 'mk-state', dataset: { state: 'retired' } }, t('marketer.pools.state.retired')) : null),
    h('p', { class: 'mk-facts' }, facts.join(' · ')),
    rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'live-table mk-table mk-table-compact' }, h('tbody', {}, rows))) : h('p', { class: 'mk-hint' }, t('marketer.pools.no_numbers')),
  );
}

function siteView(site, reload) {
  const key = siteKey(site);
  const units = { s: t('marketer.unit.s'), min: t('marketer.unit.min'), h: t('marketer.unit.h') };
  const span = (value) => seconds(value, units) || '—';
  const settings = t('marketer.sites.settings', { hold: span(site.hold_seconds), heartbeat: span(site.heartbeat_seconds), max: span(site.max_lease_seconds) });
  return h(
    'article',
    { class: 'panel mk-site', dataset: { site: key } },
    h(
      'div',
      { class: 'mk-panel-head' },
      h('h3', { class: 'section-title' }, t('marketer.sites.site_named', { site: key })),
      canEdit ? h('button', { type: 'button', class: 'button-secondary button-small', onclick: () => editSite(site, reload) }, t('marketer.edit')) : null,
    ),
    h(
      'div',
      { class: 'mk-panel-body' },
      h('p', { class: 'mk-facts' }, settings),
      h('p', { class: 'mk-facts' }, (site.origins || []).length ? t('marketer.sites.origins_are', { origins: site.origins.join(', ') }) : t('marketer.sites.no_origins')),
      ...(site.pools || []).map((pool) => poolView(pool, reload)),
      (site.source_numbers || []).length ? sourceNumbersView(site.source_numbers) : null,
    ),
  );
}

function sourceNumbersView(items) {
  const rows = items.map((item) => {
    const match = item.match || {};
    const rule = [match.channel ? channelLabel(match.channel) : null, ...MATCH_KEYS.map((key) => match[key])].filter(Boolean).join(' / ');
    return h(
      'tr',
      { dataset: { number: item.number } },
      h('th', { scope: 'row', class: 'mk-number' }, phone(item.number)),
      h('td', {}, t('marketer.sites.instead_of', { numbers: (item.replaces || []).map(phone).join(', ') })),
      h('td', { class: 'mk-text' }, rule || t('marketer.sites.any_visitor')),
    );
  });
  return h(
    'div',
    { class: 'mk-pool mk-source-numbers' },
    h('h4', { class: 'mk-pool-title' }, t('marketer.sites.source_numbers')),
    h('p', { class: 'mk-facts' }, t('marketer.sites.source_numbers_hint')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'live-table mk-table mk-table-compact' }, h('tbody', {}, rows))),
  );
}

// -- the section -----------------------------------------------------------------------------------------

export async function loadSites() {
  const data = await get('/api/tracking/sites');
  const sites = listOf(data);
  // The list may carry only keys and settings: fetch each site for its pools.
  return Promise.all(sites.map(async (site) => (Array.isArray(site.pools) ? site : { ...site, ...(await get(`/api/tracking/sites/${encodeURIComponent(siteKey(site))}`)) })));
}

export function mountNumbers(root) {
  const staticBox = h('div', { class: 'mk-block' });
  const sitesBox = h('div', { class: 'mk-block' });
  const reload = () => load();
  root.replaceChildren(
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'static-heading' },
      h(
        'div',
        { class: 'mk-panel-head' },
        h('h2', { class: 'section-title', id: 'static-heading' }, t('marketer.numbers.heading')),
        canEdit ? h('button', { type: 'button', class: 'button-primary button-small', id: 'add-number', onclick: () => editNumber(null, reload) }, t('marketer.numbers.add')) : null,
      ),
      h('p', { class: 'mk-panel-intro' }, t('marketer.numbers.intro')),
      staticBox,
    ),
    h(
      'section',
      { class: 'mk-sites', 'aria-labelledby': 'sites-heading' },
      h(
        'div',
        { class: 'mk-panel-head mk-head-plain' },
        h('h2', { class: 'section-title', id: 'sites-heading' }, t('marketer.sites.heading')),
        canEdit ? h('button', { type: 'button', class: 'button-primary button-small', id: 'add-site', onclick: () => editSite(null, reload) }, t('marketer.sites.add')) : null,
      ),
      sitesBox,
    ),
  );

  async function load() {
    staticBox.setAttribute('aria-busy', 'true');
    try {
      const numbers = listOf(await get('/api/tracking/numbers'));
      staticBox.replaceChildren(numbersTable(numbers, reload));
    } catch (error) {
      staticBox.replaceChildren(errorBox('marketer.numbers.load_failed', error));
    }
    staticBox.removeAttribute('aria-busy');
    try {
      const sites = await loadSites();
      sitesBox.replaceChildren(...(sites.length ? sites.map((site) => siteView(site, reload)) : [h('p', { class: 'table-empty panel' }, t('marketer.sites.empty'))]));
    } catch (error) {
      sitesBox.replaceChildren(errorBox('marketer.sites.load_failed', error));
    }
  }
  return load;
}
