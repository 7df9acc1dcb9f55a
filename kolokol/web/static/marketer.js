// The marketer page: call-tracking reports, pool health, tracking numbers and sites, costs, exports.
// Sections are tabs addressed by the URL's hash (#reports, #pools…); each loads when first opened and
// again when opened later (numbers change while a marketer works).

import { showSessionEnded } from './common.js';
import { get } from './marketer_api.js';
import { canEdit } from './marketer_format.js';
import { mountCosts } from './marketer_costs.js';
import { mountExports } from './marketer_exports.js';
import { mountNumbers } from './marketer_numbers.js';
import { mountPools } from './marketer_pools.js';
import { mountReports } from './marketer_reports.js';

const SECTIONS = {
  reports: mountReports,
  pools: mountPools,
  numbers: mountNumbers,
  costs: mountCosts,
  exports: mountExports,
};
const loaders = new Map();

document.body.dataset.canEdit = String(canEdit);

function current() {
  const name = location.hash.replace(/^#/, '');
  return name in SECTIONS ? name : 'reports';
}

function show(name) {
  for (const tab of document.querySelectorAll('[data-tab]')) {
    const selected = tab.dataset.tab === name;
    if (selected) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  for (const section of document.querySelectorAll('[data-section]')) section.hidden = section.dataset.section !== name;
  const root = document.querySelector(`[data-section="${name}"] .mk-section-body`);
  if (!root) return;
  if (!loaders.has(name)) loaders.set(name, SECTIONS[name](root));
  loaders.get(name)();
}

window.addEventListener('hashchange', () => show(current()));

async function start() {
  try {
    await get('/api/me');
  } catch (error) {
    if (error && error.status === 401) {
      showSessionEnded();
      return;
    }
  }
  show(current());
}

start();
