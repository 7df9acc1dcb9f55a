// Form pieces for the marketer page: labelled fields, an edit dialog that shows the server's refusal, and
// the light clean-up of typed phone numbers (the server decides what is a valid number).

import { errorText } from './marketer_api.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';

let fieldIds = 0;

/** A labelled input; `input` gets an id so the label points at it. */
export function field(label, input, hint) {
  fieldIds += 1;
  input.id = input.id || `mk-field-${fieldIds}`;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: input.id }, label),
    input,
    hint ? h('span', { class: 'mk-hint' }, hint) : null,
  );
}

export function textInput(name, value, props = {}) {
  return h('input', { type: 'text', name, value: value ?? '', autocomplete: 'off', spellcheck: 'false', ...props });
}

export function numberInput(name, value, props = {}) {
  return h('input', { type: 'number', name, value: value ?? '', inputmode: 'numeric', ...props });
}

export function linesInput(name, values, props = {}) {
  const area = h('textarea', { name, rows: 3, spellcheck: 'false', ...props });
  area.value = (values || []).join('\n');
  return area;
}

/** The non-empty lines (or comma-separated items) of a text area. */
export function lines(text) {
  return String(text || '')
    .split(/[\n,;]+/)
    .map((line) => line.trim())
    .filter(Boolean);
}

/** "8 (495) 111-00-20" → "+74951110020"; anything else keeps its digits after a "+" (the server checks). */
export function cleanNumber(text) {
  const raw = String(text || '').trim();
  const digits = raw.replace(/\D/g, '');
  if (!digits) return raw;
  if (!raw.startsWith('+') && digits.length === 11 && (digits[0] === '8' || digits[0] === '7')) return `+7${digits.slice(1)}`;
  if (!raw.startsWith('+') && digits.length === 10) return `+7${digits}`;
  return `+${digits}`;
}

/** Text or null: an empty field is "not set". */
export function optional(value) {
  const text = String(value ?? '').trim();
  return text ? text : null;
}

/** An integer from a field, or null when it is empty. */
export function optionalInt(value) {
  const text = String(value ?? '').trim();
  if (!text) return null;
  const number = Number(text);
  return Number.isFinite(number) ? Math.round(number) : text;
}

/**
 * A modal dialog with a form. `save(form)` sends it; a refusal shows the server's words in the dialog
 * and keeps it open (nothing typed is lost); success closes it and calls `done`.
 */
export function editDialog({ title, body, submitLabel, save, done }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button-primary' }, submitLabel || t('marketer.save'));
  const cancel = h('button', { type: 'button', class: 'button-secondary' }, t('marketer.cancel'));
  const form = h('form', { class: 'mk-form', method: 'dialog', novalidate: true }, body, error, h('div', { class: 'dialog-actions' }, cancel, submit));
  const dialog = h(
    'dialog',
    { class: 'dialog mk-dialog', 'aria-label': title },
    h('div', { class: 'mk-dialog-head' }, h('h2', { class: 'dialog-title' }, title), h('button', { type: 'button', class: 'button-icon', 'aria-label': t('console.close'), onclick: () => dialog.close() }, icon('x'))),
    form,
  );
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      const result = await save(form);
      dialog.close();
      if (done) done(result);
    } catch (failure) {
      error.textContent = errorText(failure);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { type: 'button', class: 'button-primary mk-danger', onclick: () => { answer = true; dialog.close(); } }, confirmLabel);
    const no = h('button', { type: 'button', class: 'button-secondary', onclick: () => dialog.close() }, t('marketer.cancel'));
    const dialog = h('dialog', { class: 'dialog', 'aria-label': title }, h('h2', { class: 'dialog-title' }, title), h('p', { class: 'dialog-text' }, text), h('div', { class: 'dialog-actions' }, no, yes));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
