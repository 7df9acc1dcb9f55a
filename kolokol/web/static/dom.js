// A tiny element builder: text always goes in as text, never as markup.

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': '...'}, 'text', childNode)
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'hidden') el.hidden = Boolean(value);
      else if (key === 'disabled') el.disabled = Boolean(value);
      else if (key === 'value') el.value = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An icon drawn by CSS (mask of /static/<name>.svg in the current text colour). */
export function icon(name) {
  return h('span', { class: `icon icon-${name}`, 'aria-hidden': 'true' });
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

/** Replace the children only when the text changed (keeps screen readers and selections calm). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
