// A yes/no question in the console's own modal (stopping a rule, turning auto kill on): ask()
// answers a promise, true only when the DBA clicked the confirming button.
import { $ } from './dom.js';
import { t } from './state.js';

// The promise's resolve while a question is open.
let pending = null;

/** ask({ title, text, confirm }) → Promise<boolean>. A question still open is answered "no". */
export function ask({ title, text, confirm }) {
  answer(false);
  $('ask-title').textContent = title;
  $('ask-text').textContent = text;
  $('ask-ok').textContent = confirm;
  $('ask-cancel').textContent = t('cancel');
  const d = $('ask-dialog');
  if (!d.open) d.showModal();
  // The safe answer has the focus: Enter alone never confirms.
  $('ask-cancel').focus();
  return new Promise((resolve) => {
    pending = resolve;
  });
}

function answer(yes) {
  const resolve = pending;
  pending = null;
  const d = $('ask-dialog');
  if (d.open) d.close();
  if (resolve) resolve(yes);
}

/** Closes an open question as "no" (signing out). */
export function closeAsk() {
  answer(false);
}

export function wireAsk() {
  $('ask-ok').addEventListener('click', () => answer(true));
  $('ask-cancel').addEventListener('click', () => answer(false));
  // Escape closes the dialog on its own: that is a "no". (The event comes a task later: a
  // question asked again in between has the dialog open, and is not the one closed.)
  $('ask-dialog').addEventListener('close', (e) => {
    if (!e.target.open) answer(false);
  });
}
