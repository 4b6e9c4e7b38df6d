// The bulk-signing page (producer/bulkpage.go, issue 19 must 3): sends the CRM filter, shows how many
// items and which with the budget estimate of both modes, then signs the sealed selection with one
// certificate, the stamp options and one code, and polls the batch until its summary. Every call
// carries the page's token in a header, never in the URL.
const body = document.body;
const token = body.dataset.token;
const msg = (k) => body.dataset['msg' + k] || '';
const headers = { 'X-Signet-Bulk-Token': token, 'Content-Type': 'application/json' };
const $ = (id) => document.getElementById(id);
let selection = '';

async function call(method, path, data) {
  const res = await fetch(path, { method, headers, credentials: 'omit', cache: 'no-store',
    body: data === undefined ? undefined : JSON.stringify(data) });
  let ans = {};
  try { ans = await res.json(); } catch (e) { /* an empty or non-JSON answer: the status says enough */ }
  return { ok: res.ok, ans };
}

function entity() {
  const v = $('entity').value;
  return v === 'smart' ? parseInt($('smart').value, 10) || 0 : parseInt(v, 10);
}

async function show() {
  const out = $('show-message');
  out.textContent = msg('Showing');
  $('found').hidden = true;
  selection = '';
  let r;
  try {
    r = await call('POST', '/bitrix24/bulk/show', {
      entity_type_id: entity(), category: $('category').value.trim(), stages: $('stages').value,
      from: $('from').value, to: $('to').value, responsible: parseInt($('responsible').value, 10) || 0,
      file_field: $('field').value.trim() });
  } catch (e) { out.textContent = msg('Unavailable'); return; }
  if (!r.ok) { out.textContent = r.ans.error || msg('Unavailable'); return; }
  const a = r.ans;
  out.textContent = '';
  $('summary').textContent = a.summary;
  $('without').textContent = a.without_file > 0 ? a.without_text : '';
  $('already').textContent = a.already_signed > 0 ? a.signed_text : '';
  $('more').textContent = a.more || '';
  const tb = $('items').querySelector('tbody');
  tb.replaceChildren();
  for (const it of a.items) {
    const tr = document.createElement('tr');
    tr.dataset.id = String(it.id);
    for (const v of [it.title, it.stage, String(it.file)]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    tb.append(tr);
  }
  for (const el of document.querySelectorAll('.est')) el.textContent = '';
  for (const e of a.estimates || []) {
    const el = document.querySelector('.est[data-mode="' + e.mode + '"]');
    if (el) el.textContent = e.text;
  }
  selection = a.selection || '';
  $('sign').disabled = !selection;
  $('found').hidden = false;
  $('found').dataset.count = String(a.count);
}

async function sign() {
  const out = $('message');
  const code = $('code').value.trim();
  if (!/^[0-9]{6,8}$/.test(code)) { out.textContent = msg('Code'); return; }
  out.textContent = msg('Signing');
  let r;
  try {
    r = await call('POST', '/bitrix24/bulk/sign', {
      selection, code, mode: document.querySelector('input[name=mode]:checked').value,
      credential: $('credential').value, visible: $('visible').checked, position: $('position').value,
      page: $('page').value, reason: $('reason').value.trim() });
  } catch (e) { out.textContent = msg('Unavailable'); return; }
  if (!r.ok) { out.textContent = r.ans.error || msg('Unavailable'); return; }
  $('code').value = '';
  out.textContent = r.ans.resumed ? msg('Resumed') : '';
  $('sign').disabled = true;
  $('show').disabled = true;
  $('run').hidden = false;
  $('run').dataset.batch = r.ans.batch;
  poll(r.ans.batch);
}

async function poll(id) {
  for (;;) {
    let r;
    try {
      r = await call('GET', '/bitrix24/bulk/status/' + encodeURIComponent(id));
    } catch (e) { r = { ok: false }; }
    if (r.ok) {
      const s = r.ans;
      $('bar').max = s.total || 1;
      $('bar').value = s.signed + s.failed;
      $('progress').textContent = s.progress;
      $('eta').textContent = s.eta || '';
      const ul = $('failures');
      ul.replaceChildren();
      for (const f of s.failures || []) {
        const li = document.createElement('li');
        li.textContent = (f.name ? f.name + ': ' : '') + f.reason;
        ul.append(li);
      }
      if (s.done) {
        $('done').textContent = s.summary;
        $('done').dataset.state = 'done';
        $('show').disabled = false;
        // Sending the same selection again resumes its batch (the same batch id) and signs nothing twice.
        $('sign').disabled = false;
        return;
      }
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

$('entity').addEventListener('change', () => { $('smart-label').hidden = $('entity').value !== 'smart'; });
$('show').addEventListener('click', show);
$('sign').addEventListener('click', sign);
$('visible').addEventListener('change', () => {
  $('position').disabled = !$('visible').checked;
  $('page').disabled = !$('visible').checked;
});
// The handlers are attached: a person (or a test) acting before this would click a dead button.
body.dataset.ready = 'true';
