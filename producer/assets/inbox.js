// The signer's inbox (producer/inbox.go, issue 19 must 2): draws each document's first page with
// pdf.js (served by Signet, worker from the same origin), marks where the stamp goes, signs the
// selected requests with one code and polls each one's progress until it ends; Decline asks for a
// reason. Every call carries the inbox token in a header, never in the URL.
import * as pdfjs from '/bitrix24/inbox/assets/pdf.min.mjs';

pdfjs.GlobalWorkerOptions.workerSrc = '/bitrix24/inbox/assets/pdf.worker.min.mjs';

const body = document.body;
const token = body.dataset.token;
const msg = (k) => body.dataset['msg' + k] || '';
const headers = { 'X-Signet-Inbox-Token': token };
const ended = new Set(['done', 'failed', 'declined', 'expired']);

function setStatus(el, state, text) {
  const s = el.querySelector('.status');
  s.dataset.state = state;
  s.textContent = text;
}

// Stamp corner → the marker's place on the drawn page.
function placeStamp(el, numPages) {
  const mark = el.querySelector('.stamp');
  const page = el.dataset.page || 'last';
  if (el.dataset.visible !== 'true') return;
  if (page === 'last' && numPages > 1) {
    el.querySelector('.note').textContent = msg('Page').replace('{n}', String(numPages));
    return;
  }
  const [v, h] = (el.dataset.position || 'bottom-right').split('-');
  mark.style.top = v === 'top' ? '3%' : '';
  mark.style.bottom = v === 'bottom' ? '3%' : '';
  mark.style.left = h === 'left' ? '3%' : h === 'center' ? '31%' : '';
  mark.style.right = h === 'right' ? '3%' : '';
  mark.classList.add('on');
}

async function draw(el) {
  const id = el.dataset.id;
  try {
    const res = await fetch('/bitrix24/inbox/document/' + encodeURIComponent(id), { headers, credentials: 'omit' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const data = new Uint8Array(await res.arrayBuffer());
    const doc = await pdfjs.getDocument({ data, isEvalSupported: false }).promise;
    const page = await doc.getPage(1);
    const vp = page.getViewport({ scale: 1.2 });
    const canvas = el.querySelector('canvas');
    canvas.width = Math.floor(vp.width);
    canvas.height = Math.floor(vp.height);
    await page.render({ canvas, canvasContext: canvas.getContext('2d'), viewport: vp }).promise;
    canvas.dataset.drawn = 'true';
    placeStamp(el, doc.numPages);
  } catch (e) {
    el.querySelector('.note').textContent = msg('Nopreview');
  }
}

async function poll(id) {
  const el = document.getElementById('req-' + id);
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    let st;
    try {
      const res = await fetch('/bitrix24/inbox/status/' + encodeURIComponent(id), { headers, credentials: 'omit', cache: 'no-store' });
      if (!res.ok) continue;
      st = await res.json();
    } catch (e) {
      continue;
    }
    setStatus(el, st.state, st.message);
    if (ended.has(st.state)) return;
  }
}

async function sign() {
  const ids = [...document.querySelectorAll('.pick:checked:not(:disabled)')].map((c) => c.value);
  const code = document.getElementById('code').value.trim();
  const out = document.getElementById('message');
  if (ids.length === 0) { out.textContent = msg('Select'); return; }
  if (!/^[0-9]{6,8}$/.test(code)) { out.textContent = msg('Code'); return; }
  out.textContent = msg('Signing');
  let res, ans;
  try {
    res = await fetch('/bitrix24/inbox/sign', { method: 'POST', credentials: 'omit',
      headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ ids, code }) });
    ans = await res.json();
  } catch (e) {
    out.textContent = msg('Unavailable');
    return;
  }
  if (!res.ok) { out.textContent = ans.error || msg('Unavailable'); return; }
  out.textContent = '';
  document.getElementById('code').value = '';
  for (const r of ans.results) {
    const el = document.getElementById('req-' + r.id);
    el.querySelector('.pick').disabled = true;
    el.querySelector('.decline').hidden = true;
    setStatus(el, r.state, r.message);
    if (!ended.has(r.state)) poll(r.id);
  }
}

async function decline(el) {
  const reason = el.querySelector('.reason').value.trim();
  if (!reason) { el.querySelector('.note').textContent = msg('Reason'); return; }
  let res, ans;
  try {
    res = await fetch('/bitrix24/inbox/decline', { method: 'POST', credentials: 'omit',
      headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ id: el.dataset.id, reason }) });
    ans = await res.json();
  } catch (e) {
    el.querySelector('.note').textContent = msg('Unavailable');
    return;
  }
  if (!res.ok) { el.querySelector('.note').textContent = ans.error || msg('Unavailable'); return; }
  el.querySelector('.pick').checked = false;
  el.querySelector('.pick').disabled = true;
  el.querySelector('.decline').hidden = true;
  setStatus(el, ans.state, ans.message);
}

for (const el of document.querySelectorAll('.req')) {
  draw(el);
  el.querySelector('.decline-open').addEventListener('click', () => {
    el.querySelector('.decline-form').hidden = false;
    el.querySelector('.reason').focus();
  });
  el.querySelector('.decline-send').addEventListener('click', () => decline(el));
}
// A request signed earlier whose job has not ended shows its progress and estimated completion.
for (const el of document.querySelectorAll('.req:not([data-state="pending"])')) poll(el.dataset.id);
const btn = document.getElementById('sign');
if (btn) btn.addEventListener('click', sign);
const focus = document.querySelector('.req.focus');
if (focus) focus.scrollIntoView();
// The handlers are attached: a person (or a test) acting before this would click a dead button.
body.dataset.ready = 'true';
