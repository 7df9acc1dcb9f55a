// "Create a contact" for an unknown caller: name and a note, saved to /api/contacts.

import { ApiError, post } from './api.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';

let formCount = 0;

/**
 * @param {{number: string, onCreated: (contact: any) => void, onCancel: () => void}} options
 * @returns {HTMLFormElement}
 */
export function contactForm({ number, onCreated, onCancel }) {
  formCount += 1;
  const id = `contact-form-${formCount}`;
  const name = h('input', { id: `${id}-name`, name: 'name', type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const note = h('textarea', { id: `${id}-note`, name: 'note', rows: 2, maxlength: 2000 });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', class: 'button-primary' }, icon('check'), t('console.contact.save'));
  const form = h(
    'form',
    { class: 'contact-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: `${id}-name` }, t('console.contact.name')), name),
    h('div', { class: 'field' }, h('label', { for: `${id}-note` }, t('console.contact.note')), note),
    error,
    h(
      'div',
      { class: 'form-actions' },
      save,
      h('button', { type: 'button', class: 'button-ghost', onclick: () => onCancel() }, t('console.cancel')),
    ),
  );
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      onCancel();
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = name.value.trim();
    if (!value) {
      error.textContent = t('console.contact.name_required');
      error.hidden = false;
      name.focus();
      return;
    }
    save.disabled = true;
    error.hidden = true;
    const fields = note.value.trim() ? { notes: note.value.trim() } : {};
    try {
      const result = await post('/api/contacts', { name: value, phones: [number], fields });
      onCreated(result.contact);
    } catch (problem) {
      const message = problem instanceof ApiError && problem.status === 400 && problem.message ? problem.message : t('console.contact.error');
      error.textContent = problem instanceof ApiError && problem.slug === 'network' ? t('console.error.network') : message;
      error.hidden = false;
      save.disabled = false;
    }
  });
  /** the form knows whether it holds unsaved input (so a call ending does not throw it away) */
  form.dirty = () => Boolean(name.value.trim() || note.value.trim());
  form.focusFirst = () => name.focus();
  return form;
}

/** The same form in a dialog (from the recent calls strip). */
export function contactDialog(number, display, onCreated) {
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'contact-dialog-title' });
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  const form = contactForm({
    number,
    onCreated: (contact) => {
      close();
      onCreated(contact);
    },
    onCancel: close,
  });
  dialog.append(
    h('h2', { class: 'dialog-title', id: 'contact-dialog-title' }, t('console.contact.title')),
    h('p', { class: 'dialog-text number' }, display || number),
    form,
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  form.focusFirst();
}
